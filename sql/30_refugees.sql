-- One row per person in personer with a refugee category, with the flag of the person-level sample rule
-- that excludes them (methods.md §1) and, for the study population, the characteristics fixed at arrival
-- (methods.md §2). Everyone else is excluded by the first rule, which sql/32 counts from personer.
-- Settlement year s = immigration year + 1: the 1 January on which arrival characteristics are read.
-- A person not resident on 1 January of s stays in the study population with no settlement municipality
-- (bosettingskommune null); only the analyses that need one leave them out.
create or replace temp table refugee_candidates as
with persons as (
    select
        personer.lopenr,
        personer.kjonn,
        personer.foedselsaar,
        personer.fodeland,
        category.kategori,
        year(personer.innvandringsdato) as innvandringsaar
    from stg_personer as personer
    join ref_category as category on category.kode = personer.innvandringsgrunn
),

settlement as (
    select persons.lopenr, bosted.kommnr_2020 as bosettingskommune
    from persons
    join related_bosted as bosted
        on bosted.lopenr = persons.lopenr and bosted.aar = persons.innvandringsaar + 1
),

final as (
    select
        persons.*,
        persons.innvandringsaar + 1 as bosettingsaar,
        settlement.bosettingskommune,
        case
            when persons.innvandringsaar is null then 'no_immigration_date'
            when persons.innvandringsaar < getvariable('first_year') then 'immigrated_before_study'
            when persons.innvandringsaar >= getvariable('last_year') then 'settlement_after_study'
        end as excluded_by
    from persons
    left join settlement using (lopenr)
)

select * from final;

create or replace table refugees as
with study_population as (
    select * exclude (excluded_by) from refugee_candidates where excluded_by is null
),

partner as (
    select study_population.lopenr, 1 as partner_innvandring
    from study_population
    join related_familie as familie
        on familie.lopenr = study_population.lopenr and familie.aar = study_population.bosettingsaar
),

parent_links as (
    select lopenr as child, foedselsaar, mor_lopenr as parent from stg_personer where mor_lopenr is not null
    union all
    select lopenr as child, foedselsaar, far_lopenr as parent from stg_personer where far_lopenr is not null
),

children as (
    -- own children under 18 (age = s - birth year), registered resident on 1 January of s
    select study_population.lopenr, count(distinct parent_links.child) as n_children
    from study_population
    join parent_links on parent_links.parent = study_population.lopenr
    join related_bosted as bosted
        on bosted.lopenr = parent_links.child and bosted.aar = study_population.bosettingsaar
    where study_population.bosettingsaar - parent_links.foedselsaar < 18
    group by study_population.lopenr
),

education as (
    -- highest completed NUS level on 1 October of the year after immigration
    select study_population.lopenr, nus.utdanning_gruppe
    from study_population
    join related_utdanning as utdanning
        on utdanning.lopenr = study_population.lopenr and utdanning.aar = study_population.bosettingsaar
    join ref_nus_group as nus on nus.nus_forste_siffer = utdanning.nus_forste_siffer
),

final as (
    select
        study_population.lopenr,
        study_population.kategori,
        study_population.kjonn,
        study_population.foedselsaar,
        coalesce(country.fodeland_gruppe, 'annet') as fodeland_gruppe,
        study_population.innvandringsaar,
        study_population.innvandringsaar - study_population.foedselsaar as alder_innvandring,
        study_population.bosettingsaar,
        study_population.bosettingskommune,
        coalesce(partner.partner_innvandring, 0) as partner_innvandring,
        least(coalesce(children.n_children, 0), 3) as barn_innvandring,
        coalesce(education.utdanning_gruppe, 99) as utdanning_innvandring
    from study_population
    left join ref_country_group as country on country.landkode = study_population.fodeland
    left join partner using (lopenr)
    left join children using (lopenr)
    left join education using (lopenr)
)

select * from final;
