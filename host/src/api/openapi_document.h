// docs/openapi.yaml as JSON, embedded at build time (cmake/openapi_to_json.py generates the
// definition), so agent-host serves the document it was built with and parses no YAML.
#pragma once

#include <string_view>

namespace aw {

//! The OpenAPI document, compact JSON.
std::string_view openApiJson();

}  // namespace aw
