-- Residence on 1 January of each study year, in the 2020 municipality structure (methods.md §4).
-- A code without a crosswalk row for its year keeps kommnr_2020 null; the harmonise stage refuses it.
-- A table of the database file, not a temporary one: at national scale it is larger than DuckDB's memory
-- limit, and blocks on disk can be evicted where temporary ones made the municipality stage run out.
create or replace table harmonised_bosted as
with bosted as (
    select lopenr, aar, kommnr
    from stg_bosted
    where aar between getvariable('first_year') and getvariable('last_year')
),

final as (
    select
        bosted.lopenr,
        bosted.aar,
        bosted.kommnr,
        crosswalk.kommnr_2020
    from bosted
    left join stg_kommuneendringer as crosswalk using (aar, kommnr)
)

select * from final;
