"""Writing many call rows in one round trip, each row its own values, each only while it is as expected."""
from django.db import connection, transaction

from workflows.models import Call


def calls_update(*, values: dict[int, dict], where: dict) -> set[int]:
    """Set each call's own field values ({pk: {field: value}}) on the rows that still match where
    ({field: value, or a tuple of values}); return the pks updated.

    One statement per set of fields on PostgreSQL (UPDATE ... FROM VALUES), so a batch costs one
    round trip, and like a conditional update() it decides row by row under the row's lock; elsewhere
    (SQLite, in-process) a conditional update per row in one transaction.
    """
    if connection.vendor != "postgresql":
        with transaction.atomic():
            return {pk for pk, fields in values.items() if Call.objects.filter(pk=pk, **_lookups(where)).update(**fields)}
    shapes: dict[tuple, dict[int, dict]] = {}
    for pk, fields in values.items():
        shapes.setdefault(tuple(fields), {})[pk] = fields
    updated = set()
    for names, rows in shapes.items():
        updated |= _update(list(names), rows, where) if names else set(
            Call.objects.filter(pk__in=list(rows), **_lookups(where)).values_list("pk", flat=True))
    return updated


def _update(names: list[str], values: dict[int, dict], where: dict) -> set[int]:
    fields = [Call._meta.get_field(name) for name in names]
    table = connection.ops.quote_name(Call._meta.db_table)
    row_sql = f"(%s::bigint, {', '.join(f'%s::{field.db_type(connection)}' for field in fields)})"
    rows, params = [row_sql] * len(values), []
    for pk, row in values.items():
        params += [pk, *(field.get_db_prep_save(row[field.name], connection) for field in fields)]
    columns = [connection.ops.quote_name(field.column) for field in fields]
    conditions = []
    for name, value in where.items():
        column = f"{table}.{connection.ops.quote_name(Call._meta.get_field(name).column)}"
        if isinstance(value, (tuple, list)):
            conditions.append(f"{column} = ANY(%s)")
            params.append(list(value))
        else:
            conditions.append(f"{column} = %s")
            params.append(value)
    sql = (f"UPDATE {table} SET {', '.join(f'{c} = v.{c}' for c in columns)} "
           f"FROM (VALUES {', '.join(rows)}) AS v(id, {', '.join(columns)}) "
           f"WHERE {table}.id = v.id{''.join(f' AND {c}' for c in conditions)} RETURNING {table}.id")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {pk for (pk,) in cursor.fetchall()}


def _lookups(where: dict) -> dict:
    return {f"{name}__in" if isinstance(value, (tuple, list)) else name: value for name, value in where.items()}
