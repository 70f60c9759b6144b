"""Validates the JSON reports jrun writes against schemas/report.schema.json.

Usage: report_check.py SCHEMA REPORT...   (prints one line per report and a closing count)
"""
import json
import sys

import jsonschema


def main() -> int:
    schema_path, *reports = sys.argv[1:]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft7Validator(schema)
    passed = failed = 0
    for path in reports:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        errors = sorted(validator.iter_errors(report), key=lambda e: list(e.path))
        if errors:
            failed += 1
            for error in errors:
                print(f"FAIL {path}: {'/'.join(map(str, error.path))}: {error.message}")
        elif not report.get("steps"):
            failed += 1
            print(f"FAIL {path}: no steps")
        else:
            passed += 1
            print(f"PASS {path}: {report['status']}, {len(report['steps'])} steps")
    print(f"reports: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
