-- Municipality characteristics, part 2: everyone resident on 1 January of a study year, by person-year key
-- (pid * years + year index, 0 = first study year), person index and group (municipality index * years +
-- year index; municipality_index has one row per 2020 municipality).
select
    bosted.pid * getvariable('study_year_count') + (bosted.aar - getvariable('first_year')) as person_year,
    bosted.pid,
    bosted.aar - getvariable('first_year') as year_index,
    municipality.municipality_index * getvariable('study_year_count') + (bosted.aar - getvariable('first_year'))
        as group_index
from harmonised_bosted as bosted
join municipality_index as municipality using (kommnr_2020);
