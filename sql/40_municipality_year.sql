-- Municipality characteristics per 2020 municipality and study year (methods.md §5), from everyone
-- resident on 1 January. Ages 30-59 use age = aar - birth year and that year's income and education.
-- Municipality characteristics, part 1 of 3 (pipeline/municipalities.py runs 40, then 41 once per study
-- year, then 42): the residents view and the population shares. At national scale the working-age joins
-- of all years at once outgrew a 3 GB memory limit; one year at a time they need an eleventh of it.
-- residents is a view, read twice and never stored: a copy of every resident does not fit either.
create or replace temp view residents as
    select
        bosted.kommnr_2020,
        bosted.aar,
        bosted.lopenr,
        bosted.aar - personer.foedselsaar between 30 and 59 as age_30_59,
        personer.invkat in ('B', 'C') as immigrant_background,
        personer.invkat = 'B' as immigrant,
        personer.invkat = 'C' as norwegian_born_to_immigrants,
        refugee_code.kode is not null as refugee_background,
        region.region
    from harmonised_bosted as bosted
    join stg_personer as personer using (lopenr)
    left join ref_refugee_code as refugee_code on refugee_code.kode = personer.innvandringsgrunn
    left join ref_country_region as region on region.landkode = personer.landbakgrunn;

create or replace temp table municipality_population as
    select
        kommnr_2020,
        aar,
        count(*) as befolkning,
        avg(refugee_background::integer) as andel_flyktningbakgrunn,
        avg(immigrant::integer) as andel_innvandrere,
        avg(norwegian_born_to_immigrants::integer) as andel_norskfodte_innv_foreldre,
        avg(immigrant_background::integer) as andel_innvandringsbakgrunn,
        avg((immigrant_background and not refugee_background)::integer) as andel_innvandringsbakgrunn_ikke_flukt,
        avg((immigrant_background and region = 'europa')::integer) as andel_bakgrunn_europa,
        avg((immigrant_background and region = 'afrika')::integer) as andel_bakgrunn_afrika,
        avg((immigrant_background and region = 'asia')::integer) as andel_bakgrunn_asia,
        avg((immigrant_background and region = 'nord_amerika')::integer) as andel_bakgrunn_nord_amerika,
        avg((immigrant_background and region = 'latin_amerika')::integer) as andel_bakgrunn_latin_amerika,
        avg((immigrant_background and region = 'oseania')::integer) as andel_bakgrunn_oseania
    from residents
    group by kommnr_2020, aar;
