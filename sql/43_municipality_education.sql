-- Municipality characteristics, part 4: education of the study years, looked up for the residents aged
-- 30-59 by person-year key. nus_level: the first digit of the highest completed NUS level (255: none);
-- higher education is level 6, 7 or 8.
select
    pid * getvariable('study_year_count') + (aar - getvariable('first_year')) as person_year,
    nus_igang is not null as in_education,
    coalesce(try_cast(left(nus_hoyeste, 1) as utinyint), 255) as nus_level
from keyed_utdanning
where aar between getvariable('first_year') and getvariable('last_year');
