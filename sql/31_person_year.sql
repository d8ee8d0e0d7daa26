-- The refugee person-year panel (methods.md §1 and §3): resident on 1 January of t with an income
-- record for t, from botid 0 on. Every candidate row keeps the rule that excludes it, for the sample flow.
create or replace temp table person_year_candidates as
with residence as (
    select refugees.*, bosted.aar, bosted.kommnr_2020
    from refugees
    join related_bosted as bosted using (lopenr)
),

income as (
    select lopenr, aar, yrkinnt from stg_inntekt
),

ongoing_education as (
    select lopenr, aar from stg_utdanning where nus_igang is not null
),

final as (
    select
        residence.*,
        residence.aar - residence.innvandringsaar - 1 as botid,
        residence.aar - residence.foedselsaar as alder,
        income.yrkinnt,
        grunnbelop.g,
        ongoing_education.lopenr is not null as in_education,
        case
            when residence.aar < residence.bosettingsaar then 'resident_before_settlement'
            when income.lopenr is null then 'no_income_record'
        end as excluded_by
    from residence
    left join income using (lopenr, aar)
    left join ongoing_education using (lopenr, aar)
    join stg_grunnbelop as grunnbelop on grunnbelop.aar = residence.aar
)

select * from final;

create or replace table person_year as
with kept as (
    select * from person_year_candidates where excluded_by is null
),

final as (
    select
        lopenr,
        aar,
        kategori,
        botid,
        alder,
        kjonn,
        fodeland_gruppe,
        innvandringsaar,
        alder_innvandring,
        bosettingskommune,
        kommnr_2020,
        partner_innvandring,
        barn_innvandring,
        utdanning_innvandring,
        yrkinnt,
        g,
        (yrkinnt > getvariable('employment_threshold_g') * g)::integer as sysselsatt,
        in_education::integer as i_utdanning,
        (yrkinnt > getvariable('employment_threshold_g') * g or in_education)::integer as arbeid_utdanning
    from kept
)

select * from final;
