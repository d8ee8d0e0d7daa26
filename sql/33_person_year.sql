-- The refugee person-year panel (methods.md §1 and §3): the candidate rows no rule excludes, with the
-- outcomes. Employed: yrkesinntekt above employment_threshold_g times G (the report: 1 G). The
-- robustness stage runs this file again on an exported panel to change only that definition.
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
