-- Municipality characteristics (methods.md §5), part 1: what each person of personer contributes, by the
-- person index pid. pipeline/registers/municipalities.py holds these as arrays and counts the residents of
-- sql/41 with them; a person's region is that of their country background (landbakgrunn), as its place
-- in the list `regions` (1, 2, ...; 0 for none).
select
    personer.pid,
    personer.foedselsaar,
    personer.invkat in ('B', 'C') as immigrant_background,
    personer.invkat = 'B' as immigrant,
    personer.invkat = 'C' as norwegian_born_to_immigrants,
    refugee_code.kode is not null as refugee_background,
    coalesce(list_position(getvariable('regions'), region.region), 0) as region
from keyed_personer as personer
left join ref_refugee_code as refugee_code on refugee_code.kode = personer.innvandringsgrunn
left join ref_country_region as region on region.landkode = personer.landbakgrunn;
