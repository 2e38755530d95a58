#!/usr/bin/env python3
"""Builds what agent-host serves at GET /openapi.json from docs/openapi.yaml, the one source:
the document as JSON (for the tests and the validators) and a C++ source embedding it (so
agent-host needs no YAML parser at run time).

usage: openapi_to_json.py <openapi.yaml> <out.json> <out.cpp>
"""
import json
import sys

import yaml


class PlainLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: a date in the document stays the text it is."""


PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

DELIMITER = "openapi_json"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    source, json_path, cpp_path = sys.argv[1:]
    with open(source, encoding="utf-8") as f:
        document = yaml.load(f, Loader=PlainLoader)
    if not isinstance(document, dict) or "openapi" not in document:
        sys.exit(f"{source}: not an OpenAPI document (no top-level 'openapi')")
    try:
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    except TypeError as e:
        sys.exit(f"{source}: a value JSON cannot hold ({e}); quote it")
    if ")" + DELIMITER + '"' in text:
        sys.exit(f"{source}: holds the raw string delimiter ){DELIMITER}\"")
    with open(json_path, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    with open(cpp_path, "w", encoding="utf-8") as f:
        f.write("// Generated from docs/openapi.yaml by cmake/openapi_to_json.py; do not edit.\n")
        f.write("#include \"api/openapi_document.h\"\n\n")
        f.write("namespace aw {\n\n")
        f.write("std::string_view openApiJson() {\n")
        f.write(f'    static constexpr std::string_view kDocument = R"{DELIMITER}({text}){DELIMITER}";\n')
        f.write("    return kDocument;\n}\n\n}  // namespace aw\n")


if __name__ == "__main__":
    main()
