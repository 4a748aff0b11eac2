#include "api/request_check.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/unknown_field_set.h"

namespace bulkhead {
namespace {

// A field this build does not know: a newer client, or bytes that parse by
// accident. Both are refused rather than half understood.
absl::Status CheckNoUnknownFields(const google::protobuf::Message& message,
                                  const std::string& path) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = reflection->GetUnknownFields(message);
  if (!unknown.empty())
    return absl::InvalidArgumentError(absl::StrCat(path, ": unknown field number ",
                                                   unknown.field(0).number(),
                                                   " (is the client newer than the agent?)"));
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    std::string field_path = absl::StrCat(path, ".", field->name());
    if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(message, field); ++i)
        if (absl::Status s =
                CheckNoUnknownFields(reflection->GetRepeatedMessage(message, field, i), field_path);
            !s.ok())
          return s;
    } else if (absl::Status s =
                   CheckNoUnknownFields(reflection->GetMessage(message, field), field_path);
               !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSetMode(const bulkhead::v1::SetModeRequest& request) {
  bulkhead::v1::Mode mode = request.mode();
  if (mode != bulkhead::v1::LEARN && mode != bulkhead::v1::MONITOR && mode != bulkhead::v1::ENFORCE)
    return absl::InvalidArgumentError(absl::StrCat("set_mode.mode: ", static_cast<int>(mode),
                                                   " is not one of learn, monitor, enforce"));
  const std::string& workload = request.workload();
  if (request.all()) {
    if (!workload.empty())
      return absl::InvalidArgumentError("set_mode: give a workload or all, not both");
    return absl::OkStatus();
  }
  if (workload.empty())
    return absl::InvalidArgumentError("set_mode.workload: empty (expected namespace/name)");
  if (workload.size() > kMaxWorkloadNameBytes)
    return absl::InvalidArgumentError(absl::StrCat("set_mode.workload: ", workload.size(),
                                                   " bytes, over the limit of ",
                                                   kMaxWorkloadNameBytes));
  for (char c : workload) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      return absl::InvalidArgumentError("set_mode.workload: contains a control character");
  }
  return absl::OkStatus();
}

absl::Status CheckApplyPolicy(const bulkhead::v1::ApplyPolicyRequest& request) {
  constexpr std::size_t kMaxSourceBytes = 4096;
  if (request.source().size() > kMaxSourceBytes)
    return absl::InvalidArgumentError(absl::StrCat("apply_policy.source: ", request.source().size(),
                                                   " bytes, over the limit of ", kMaxSourceBytes));
  for (char c : request.source()) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      return absl::InvalidArgumentError("apply_policy.source: contains a control character");
  }
  return absl::OkStatus();  // the content is checked by the agent, line by line
}

}  // namespace

absl::Status CheckRequest(const bulkhead::v1::Request& request) {
  if (absl::Status s = CheckNoUnknownFields(request, "request"); !s.ok()) return s;
  switch (request.kind_case()) {
    case bulkhead::v1::Request::kStatus:
    case bulkhead::v1::Request::kExportPolicy:
    case bulkhead::v1::Request::kTop:  // any limit: the agent returns what it has
      return absl::OkStatus();
    case bulkhead::v1::Request::kFlows:  // any count: the agent returns what it has
      if (request.flows().wait_ms() > kMaxFlowsWaitMs)
        return absl::InvalidArgumentError(absl::StrCat("flows: wait_ms ", request.flows().wait_ms(),
                                                       " is over ", kMaxFlowsWaitMs));
      return absl::OkStatus();
    case bulkhead::v1::Request::kSetMode:
      return CheckSetMode(request.set_mode());
    case bulkhead::v1::Request::kApplyPolicy:
      return CheckApplyPolicy(request.apply_policy());
    case bulkhead::v1::Request::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "request: names no operation (expected status, flows, set_mode, export_policy, "
      "apply_policy or top)");
}

}  // namespace bulkhead
