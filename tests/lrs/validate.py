"""Run with the LRS's virtualenv (.venv-lrs/bin/python): reads a JSON array of xAPI statements on
standard input and validates each against ralph's strict pydantic model of an xAPI statement
(ralph.models.xapi.base.statements.BaseXapiStatement: extra fields forbidden, no empty values,
IRIs, language maps, interaction components, UUIDs). Prints a JSON array of the problems found,
each with the statement's index: [] when every statement is valid."""

import json
import sys

from pydantic import ValidationError
from ralph.models.xapi.base.statements import BaseXapiStatement

problems = []
for index, statement in enumerate(json.load(sys.stdin)):
    try:
        BaseXapiStatement.model_validate(statement, strict=False)
    except ValidationError as exc:
        problems.append({"index": index, "errors": json.loads(exc.json(include_url=False))})
json.dump(problems, sys.stdout)
