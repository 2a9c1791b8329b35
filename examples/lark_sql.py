"""A SQL query over known tables, from ``sql.lark`` restricted by ``sql_grammar(tables)``.

Only the listed tables can follow FROM, and only the selected table's columns can appear, so
the model cannot invent a column. Run: ``python examples/lark_sql.py`` or ``--no-model``.
"""

from __future__ import annotations

import sys

from lark_common import grammars, main

TABLES = {
    "employees": ["id", "name", "department", "salary", "hired_on"],
    "departments": ["id", "name", "budget"],
}

MESSAGES = [
    {"role": "system", "content": "You write SQL. Tables: employees(id, name, department, salary, hired_on), "
                                  "departments(id, name, budget)."},
    {"role": "user", "content": "List the names of the five best paid employees in the Sales department."},
]

if __name__ == "__main__":
    sys.exit(main("SQL SELECT over known tables (sql_grammar)", grammars.sql_grammar(TABLES), MESSAGES,
                  max_new_tokens=60))
