-- Residence on 1 January, in the 2020 municipality structure (methods.md §4). The pass over the registers
-- (pipeline/registers/municipalities.py) finds each residence row's row of the crosswalk, `crosswalk`, by
-- (aar, kommnr): the crosswalk row gives the 2020 municipality's index (municipality_index, one row per
-- 2020 municipality). A study-year row without a crosswalk row is refused, by the harmonised_bosted view.
create or replace temp table municipality_index as
select
    kommnr_2020,
    (row_number() over (order by kommnr_2020) - 1)::integer as municipality_index
from stg_kommuner_2020;

create or replace temp table crosswalk as
select
    (row_number() over (order by crosswalk.aar, crosswalk.kommnr) - 1)::integer as crosswalk_row,
    crosswalk.aar,
    crosswalk.kommnr,
    crosswalk.kommnr_2020,
    municipality.municipality_index
from stg_kommuneendringer as crosswalk
join municipality_index as municipality using (kommnr_2020);

-- The codes the crosswalk knows, as a type: the pass reads a residence row's code as its place in this
-- list (sql/41; a cast DuckDB makes once per distinct code of a Parquet page, where a join hashed every
-- row) and looks its crosswalk row up by year and place (harmonise.crosswalk_rows_by_code).
drop type if exists kommnr_code;
create type kommnr_code as enum (select distinct kommnr from crosswalk order by kommnr);

-- the refusal of unmatched codes reads this view, never the pass
create or replace temp view harmonised_bosted as
select
    bosted.lopenr,
    bosted.aar,
    bosted.kommnr,
    crosswalk.kommnr_2020
from stg_bosted as bosted
left join crosswalk using (aar, kommnr)
where bosted.aar between getvariable('first_year') and getvariable('last_year');
