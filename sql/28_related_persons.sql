-- The persons the panel and the settlement counts look up: everyone with a reason for immigration in a
-- category or in the refugee background, and their children. The one pass over the registers
-- (pipeline/registers/municipalities.py) keeps their rows of residence, income and education (sql/29), so that
-- the panel's lookups (settlement, children, person-years, sample flow, settlement counts) never scan a
-- whole register again.
create or replace temp table related_persons as
with related_reason as (
    select kode from ref_category
    union
    select kode from ref_refugee_code
),

reason_persons as (
    select personer.lopenr, personer.mor_lopenr, personer.far_lopenr
    from stg_personer as personer
    semi join related_reason on related_reason.kode = personer.innvandringsgrunn
),

children as (
    select personer.lopenr
    from stg_personer as personer
    semi join reason_persons on reason_persons.lopenr = personer.mor_lopenr
    union
    select personer.lopenr
    from stg_personer as personer
    semi join reason_persons on reason_persons.lopenr = personer.far_lopenr
),

related as (
    select lopenr from reason_persons
    union
    select lopenr from children
),

final as (
    select personer.pid, personer.lopenr
    from keyed_personer as personer
    semi join related using (lopenr)
)

select * from final;
