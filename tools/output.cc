#include "tools/output.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "api/enum_names.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace bulkhead {
namespace {

using Row = std::vector<std::string>;

// Columns separated by two spaces, each as wide as its widest cell.
std::string Table(const std::vector<Row>& rows) {
  std::vector<std::size_t> widths;
  for (const Row& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const Row& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string EndpointText(const bulkhead::v1::Endpoint& e, bulkhead::v1::Protocol proto) {
  std::string address = e.ip();
  if (proto == bulkhead::v1::TCP || proto == bulkhead::v1::UDP || proto == bulkhead::v1::SCTP) {
    if (address.find(':') != std::string::npos) address = absl::StrCat("[", address, "]");
    absl::StrAppend(&address, ":", e.port());
  }
  return absl::StrCat(e.workload(), " (", address, ")");
}

// A flow to a Service: its backend and target port, then what the packet
// was addressed to.
std::string DestinationText(const bulkhead::v1::Flow& f) {
  if (f.service_port() == 0) return EndpointText(f.destination(), f.protocol());
  const bulkhead::v1::Endpoint& e = f.destination();
  std::string address = e.ip();
  if (address.find(':') != std::string::npos) address = absl::StrCat("[", address, "]");
  return absl::StrCat(e.workload(), ":", e.port(), " (service ",
                      f.service().empty() ? "?" : f.service(), " ", address, ":", f.service_port(),
                      ")");
}

std::string ProtocolText(bulkhead::v1::Protocol proto) {
  const std::string& name = bulkhead::v1::Protocol_Name(proto);
  return name.empty() ? absl::StrCat("proto-", static_cast<int>(proto)) : name;
}

std::string VerdictText(const bulkhead::v1::Flow& f) {
  std::string verdict = bulkhead::v1::Verdict_Name(f.verdict());
  if (f.segment_id() != 0) absl::StrAppend(&verdict, " by segment ", f.segment_id());
  if (f.reason() != bulkhead::v1::REASON_UNSPECIFIED)
    absl::StrAppend(&verdict, " (", absl::AsciiStrToLower(bulkhead::v1::Reason_Name(f.reason())),
                    f.guardrail().empty() ? "" : absl::StrCat(" ", f.guardrail()), ")");
  if (f.held_back()) absl::StrAppend(&verdict, " [source held back]");
  return verdict;
}

std::string TimeText(const google::protobuf::Timestamp& time) {
  absl::Time t =
      absl::FromUnixNanos(google::protobuf::util::TimeUtil::TimestampToNanoseconds(time));
  return absl::FormatTime("%b %d %H:%M:%E3S", t, absl::LocalTimeZone());
}

}  // namespace

int PrintFailure(const absl::Status& status) {
  std::cerr << "bulkhead: " << status.message() << "\n";
  return 1;
}

std::string FlowLine(const bulkhead::v1::Flow& f) {
  std::string line =
      absl::StrCat(TimeText(f.time()), " ", EndpointText(f.source(), f.protocol()), " -> ",
                   DestinationText(f), " ", ProtocolText(f.protocol()), " ", VerdictText(f));
  if (f.direction() != bulkhead::v1::DIRECTION_UNSPECIFIED)
    absl::StrAppend(&line, " ", absl::AsciiStrToLower(bulkhead::v1::Direction_Name(f.direction())));
  if (!f.interface().empty()) absl::StrAppend(&line, " ", f.interface());
  if (!f.node().empty()) absl::StrAppend(&line, " on ", f.node());
  return line;
}

std::string FlowsTable(const bulkhead::v1::FlowsResponse& flows) {
  if (flows.flows().empty()) return "";
  std::vector<Row> rows = {{"TIME", "SOURCE", "", "DESTINATION", "PROTO", "VERDICT", "MODE"}};
  for (const auto& f : flows.flows()) {
    std::string verdict = VerdictText(f);
    rows.push_back({TimeText(f.time()), EndpointText(f.source(), f.protocol()), "->",
                    DestinationText(f), ProtocolText(f.protocol()), verdict, ModeName(f.mode())});
  }
  return Table(rows);
}

std::string TopText(const bulkhead::v1::TopResponse& top) {
  auto when = [](const google::protobuf::Timestamp& t) { return TimeText(t); };
  std::vector<Row> segments = {{"SEGMENT", "ID", "FLOWS", "LAST SEEN"}};
  for (const auto& s : top.segments()) {
    std::string port = s.port_end() == 0 ? absl::StrCat(s.port())
                       : s.port() == 0 && s.port_end() == 65535
                           ? std::string("any")
                           : absl::StrCat(s.port(), "-", s.port_end());
    segments.push_back({absl::StrCat(s.from_workload(), " -> ", s.to_workload(), " : ",
                                     absl::AsciiStrToLower(ProtocolText(s.protocol())), "/", port),
                        absl::StrCat(s.id()), absl::StrCat(s.flows()),
                        s.has_last_seen() ? when(s.last_seen()) : "-"});
  }
  std::vector<Row> refused = {
      {"FROM", "TO", "PORT", "VERDICT", "REASON", "FLOWS", "FIRST SEEN", "LAST SEEN"}};
  for (const auto& r : top.refused())
    refused.push_back(
        {r.from(), r.to(),
         absl::StrCat(absl::AsciiStrToLower(ProtocolText(r.protocol())), "/", r.port()),
         bulkhead::v1::Verdict_Name(r.verdict()),
         absl::AsciiStrToLower(bulkhead::v1::Reason_Name(r.reason())), absl::StrCat(r.flows()),
         when(r.first_seen()), when(r.last_seen())});
  std::string out =
      absl::StrCat("busiest segments\n", Table(segments), "\nmost refused\n", Table(refused));
  if (top.refused_pairs_forgotten() > 0)
    absl::StrAppend(&out, "(", top.refused_pairs_forgotten(),
                    " refused pairs not seen for longest were forgotten: the table is bounded)\n");
  return out;
}

std::string StatusText(const bulkhead::v1::StatusResponse& s) {
  std::string out = absl::StrCat(
      "bulkheadd ", s.version(), s.node().empty() ? "" : absl::StrCat(" on ", s.node()), ", up ",
      s.uptime_seconds(), "s\n",
      "interfaces: ", s.interfaces().empty() ? "none" : absl::StrJoin(s.interfaces(), ", "),
      "\nsegments: ", s.segments(), "\nflows seen: ", s.flows_seen(), "\n\n");
  std::vector<Row> workloads = {{"WORKLOAD", "IDENTITY", "MODE", "SINCE", "STABLE", "SEGMENTS",
                                 "LAST NEW", "HELD", "ADDRESSES"}};
  auto when = [](const google::protobuf::Timestamp& t, bool set) -> std::string {
    if (!set) return "-";
    return absl::FormatTime(
        "%b %d %H:%M:%S",
        absl::FromUnixNanos(google::protobuf::util::TimeUtil::TimestampToNanoseconds(t)),
        absl::LocalTimeZone());
  };
  for (const auto& w : s.workloads())
    workloads.push_back({w.workload(), absl::StrCat(w.identity()), ModeName(w.mode()),
                         when(w.mode_since(), w.has_mode_since()), w.stable() ? "yes" : "no",
                         absl::StrCat(w.segments()),
                         when(w.last_new_segment(), w.has_last_new_segment()),
                         absl::StrCat(w.held_back(), w.exploring() ? " (exploring)" : ""),
                         absl::StrJoin(w.addresses(), ",")});
  absl::StrAppend(&out, Table(workloads), "\n");
  if (!s.guardrails().empty()) {
    std::vector<Row> guardrails = {{"GUARDRAIL", "FROM", "TO", "EXCEPT", "PAIRS", "DROPPED"}};
    for (const auto& g : s.guardrails())
      guardrails.push_back({g.name(), g.from(), g.to(),
                            g.except().empty() ? "-" : absl::StrJoin(g.except(), ","),
                            absl::StrCat(g.identity_pairs()), absl::StrCat(g.dropped_flows())});
    absl::StrAppend(&out, Table(guardrails), "\n");
  }

  if (!s.maps().empty()) {
    std::vector<Row> maps = {{"MAP", "ENTRIES", "CAPACITY", "FULL"}};
    for (const auto& m : s.maps())
      maps.push_back({m.name(), absl::StrCat(m.entries()), absl::StrCat(m.capacity()),
                      m.capacity() == 0
                          ? "-"
                          : absl::StrFormat("%.1f%%", 100.0 * static_cast<double>(m.entries()) /
                                                          static_cast<double>(m.capacity()))});
    absl::StrAppend(&out, Table(maps), "\n");
  }

  std::vector<std::pair<std::string, std::uint64_t>> counters(s.datapath_counters().begin(),
                                                              s.datapath_counters().end());
  std::sort(counters.begin(), counters.end());
  std::vector<Row> rows = {{"COUNTER", "VALUE"}};
  for (const auto& [name, value] : counters) rows.push_back({name, absl::StrCat(value)});
  absl::StrAppend(&out, Table(rows));
  return out;
}

absl::Status WriteOutputFile(const std::string& path, absl::string_view contents) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("create ", tmp));
  auto fail = [&](absl::string_view what) {
    absl::Status status = absl::ErrnoToStatus(errno, absl::StrCat(what, " ", tmp));
    close(fd);
    unlink(tmp.c_str());
    return status;
  };
  for (std::size_t done = 0; done < contents.size();) {
    ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write");
    done += static_cast<std::size_t>(n);
  }
  if (fsync(fd) != 0) return fail("fsync");
  if (close(fd) != 0) {
    absl::Status status = absl::ErrnoToStatus(errno, absl::StrCat("close ", tmp));
    unlink(tmp.c_str());
    return status;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status status = absl::ErrnoToStatus(errno, absl::StrCat("rename ", tmp, " to ", path));
    unlink(tmp.c_str());
    return status;
  }
  return absl::OkStatus();
}

}  // namespace bulkhead
