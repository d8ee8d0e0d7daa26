-- Residence rows of the persons the panel and the settlement counts look up: everyone with a reason for
-- immigration in a category or in the refugee background, and their children. One pass over the whole
-- population's residence here saves one in each later lookup (settlement, children, person-years,
-- sample flow, settlement counts), which only ever match these persons.
create or replace temp table related_bosted as
with related_reason as (
    select kode from ref_category
    union
    select kode from ref_refugee_code
),

related_persons as (
    select personer.lopenr, personer.mor_lopenr, personer.far_lopenr
    from stg_personer as personer
    semi join related_reason on related_reason.kode = personer.innvandringsgrunn
),

children as (
    select personer.lopenr
    from stg_personer as personer
    semi join related_persons on related_persons.lopenr = personer.mor_lopenr
    union
    select personer.lopenr
    from stg_personer as personer
    semi join related_persons on related_persons.lopenr = personer.far_lopenr
),

related as (
    select lopenr from related_persons
    union
    select lopenr from children
),

final as (
    select bosted.lopenr, bosted.aar, bosted.kommnr_2020
    from harmonised_bosted as bosted
    semi join related using (lopenr)
)

select * from final;
