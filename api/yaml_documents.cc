#include "api/yaml_documents.h"

#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "api/names.h"
#include "yaml-cpp/eventhandler.h"

namespace bulkhead {
namespace {

// Records where each document starts; the nodes are built later.
class DocumentStarts final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::vector<YAML::Mark> starts;
};

// Whether no line starts a document or a directive ("---", "...", "%"):
// then the text is one document (a marker is only a marker at a line's
// start), which YAML::Load reads in one pass.
bool OneDocument(absl::string_view text) {
  for (std::size_t start = 0; start < text.size();) {
    absl::string_view line = text.substr(start, text.find('\n', start) - start);
    if (absl::StartsWith(line, "---") || absl::StartsWith(line, "...") ||
        absl::StartsWith(line, "%"))
      return false;
    std::size_t end = text.find('\n', start);
    if (end == absl::string_view::npos) break;
    start = end + 1;
  }
  return true;
}

// Whether anything but blanks and comments is there.
bool HasContent(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line);
    if (!stripped.empty() && stripped[0] != '#') return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<YamlDocument>> LoadDocuments(absl::string_view text,
                                                        std::size_t max_documents,
                                                        int* error_line) {
  *error_line = 0;
  auto not_yaml = [&](const YAML::Mark& mark, int line_offset, absl::string_view message) {
    if (!mark.is_null()) *error_line = line_offset + mark.line + 1;
    return absl::InvalidArgumentError(absl::StrCat("not YAML: ", EscapeControlCharacters(message)));
  };

  std::string input(text);
  if (OneDocument(text)) {  // the common case, at half the cost of the walk below
    try {
      YAML::Node root = YAML::Load(input);
      if (root.IsNull() && HasContent(text))
        return not_yaml(YAML::Mark::null_mark(), 0, "nothing in it reads as a document");
      return std::vector<YamlDocument>{{root, 0}};
    } catch (const YAML::ParserException& e) {
      return not_yaml(e.mark, 0, e.msg);
    } catch (const YAML::Exception& e) {
      return not_yaml(YAML::Mark::null_mark(), 0, e.what());
    }
  }
  DocumentStarts events;
  try {
    std::istringstream stream(input);
    YAML::Parser parser(stream);
    while (parser.HandleNextDocument(events)) {
      const std::vector<YAML::Mark>& starts = events.starts;
      if (starts.size() >= 2 && starts[starts.size() - 1].pos == starts[starts.size() - 2].pos)
        return not_yaml(starts.back(), 0, "the parser makes no progress here");
      if (starts.size() > max_documents) {
        *error_line = starts.back().line + 1;
        return absl::InvalidArgumentError(
            absl::StrCat("more than ", max_documents, " YAML documents"));
      }
    }
  } catch (const YAML::ParserException& e) {
    return not_yaml(e.mark, 0, e.msg);
  } catch (const YAML::Exception& e) {
    return not_yaml(YAML::Mark::null_mark(), 0, e.what());
  }

  std::vector<YamlDocument> documents;
  int line_offset = 0;
  try {
    if (events.starts.size() <= 1) {
      documents.push_back({YAML::Load(input), 0});  // the marks are the file's as they are
      return documents;
    }
    for (std::size_t i = 0; i < events.starts.size(); ++i) {
      const YAML::Mark& start = events.starts[i];
      line_offset = start.line;
      std::size_t end = i + 1 < events.starts.size() ? events.starts[i + 1].pos : input.size();
      documents.push_back({YAML::Load(input.substr(start.pos, end - start.pos)), start.line});
    }
  } catch (const YAML::ParserException& e) {
    return not_yaml(e.mark, line_offset, e.msg);
  } catch (const YAML::Exception& e) {
    return not_yaml(YAML::Mark::null_mark(), 0, e.what());
  }
  return documents;
}

}  // namespace bulkhead
