// berth-jmespath-eval: the differential test's window onto the C++ JMESPath implementation.
// Reads JSON lines {"expression": "...", "document": ...} on stdin and writes one JSON line per
// input: {"result": ...} or {"error": "<kind>"} (KindName), so thousands of cases run in one
// process. Documents and results are nlohmann::ordered_json: objects keep the order they were
// written in, so the test can check the order of a result's keys.

#include <iostream>
#include <string>

#include "jmespath/jmespath.h"
#include "nlohmann/json.hpp"

int main() {
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    nlohmann::ordered_json out;
    const nlohmann::ordered_json input =
        nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (input.is_discarded() || !input.is_object() || !input.contains("expression") ||
        !input["expression"].is_string()) {
      out["error"] = "bad-input";
    } else {
      static const nlohmann::ordered_json kNull;
      const auto document = input.find("document");
      auto result = berth::jmespath::Search(input["expression"].get<std::string>(),
                                            document == input.end() ? kNull : *document);
      if (result.ok()) {
        out["result"] = std::move(*result);
      } else if (auto kind = berth::jmespath::KindOf(result.status())) {
        out["error"] = std::string(berth::jmespath::KindName(*kind));
        out["message"] = std::string(result.status().message());
      } else {
        out["error"] = "unclassified";
        out["message"] = result.status().ToString();
      }
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
  }
  return 0;
}
