-- Residence on 1 January of each study year, in the 2020 municipality structure (methods.md §4).
-- A code without a crosswalk row for its year keeps kommnr_2020 null; the harmonise stage refuses it.
create or replace temp table harmonised_bosted as
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
