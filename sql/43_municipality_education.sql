-- Municipality characteristics, part 4: education of the study years, looked up for the residents aged
-- 30-59 by person-year key. Higher education: highest completed NUS level 6, 7 or 8.
select
    pid * getvariable('study_year_count') + (aar - getvariable('first_year')) as person_year,
    nus_igang is not null as in_education,
    coalesce(left(nus_hoyeste, 1) in ('6', '7', '8'), false) as higher_education
from keyed_utdanning
where aar between getvariable('first_year') and getvariable('last_year');
