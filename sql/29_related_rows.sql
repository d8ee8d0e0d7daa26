-- Residence (2020 structure), income, education and partners of the related persons (sql/28), in the
-- study years, from the rows that the pass over the registers kept (related_residence_rows,
-- related_income_rows, related_education_rows, related_partner_rows: pid, year index, values).
create or replace temp table related_bosted as
select
    persons.lopenr,
    (rows.year_index + getvariable('first_year'))::integer as aar,
    municipality.kommnr_2020
from related_residence_rows as rows
join related_persons as persons using (pid)
join municipality_index as municipality using (municipality_index);

create or replace temp table related_inntekt as
select
    persons.lopenr,
    (rows.year_index + getvariable('first_year'))::integer as aar,
    rows.yrkinnt
from related_income_rows as rows
join related_persons as persons using (pid);

-- nus_level: the first digit of nus_hoyeste (255: none, or not a digit)
create or replace temp table related_utdanning as
select
    persons.lopenr,
    (rows.year_index + getvariable('first_year'))::integer as aar,
    rows.in_education,
    case when rows.nus_level < 10 then rows.nus_level::varchar end as nus_forste_siffer
from related_education_rows as rows
join related_persons as persons using (pid);

create or replace temp table related_familie as
select
    persons.lopenr,
    (rows.year_index + getvariable('first_year'))::integer as aar
from related_partner_rows as rows
join related_persons as persons using (pid);

drop table related_residence_rows;
drop table related_income_rows;
drop table related_education_rows;
drop table related_partner_rows;
