-- Residence on 1 January of each study year, in the 2020 municipality structure (methods.md §4), with the
-- person index pid (pipeline/person_index.py). A code without a crosswalk row for its year keeps
-- kommnr_2020 null; the harmonise stage refuses it.
-- A view, never stored: at national scale the rows outgrow DuckDB's memory limit, and each later use
-- (the checks below, the residence of the refugees, the municipality counts) reads the register once.
create or replace temp view harmonised_bosted as
with bosted as (
    select pid, lopenr, aar, kommnr
    from keyed_bosted
    where aar between getvariable('first_year') and getvariable('last_year')
),

final as (
    select
        bosted.pid,
        bosted.lopenr,
        bosted.aar,
        bosted.kommnr,
        crosswalk.kommnr_2020
    from bosted
    left join stg_kommuneendringer as crosswalk using (aar, kommnr)
)

select * from final;
