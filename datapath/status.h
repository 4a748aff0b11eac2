// Error helpers shared by every layer: errno -> absl::Status with a message
// that says what failed, on what, and why; and the early-return macros.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace bulkhead {

// Returns a status whose message reads "<what>: <ENAME> (<strerror>)", with
// the code mapped from the errno (ENOENT -> NotFound, E2BIG -> OutOfRange...).
// `err` may be negative, as libbpf returns it.
absl::Status ErrnoError(int err, absl::string_view what);

}  // namespace bulkhead

#define BH_STATUS_CONCAT_INNER(a, b) a##b
#define BH_STATUS_CONCAT(a, b) BH_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is an error.
#define BH_RETURN_IF_ERROR(expr)                                               \
  do {                                                                         \
    if (absl::Status bh_status_ = (expr); !bh_status_.ok()) return bh_status_; \
  } while (0)

// `lhs = value of expr` (an absl::StatusOr<T>), or return its error.
#define BH_ASSIGN_OR_RETURN(lhs, expr) \
  BH_ASSIGN_OR_RETURN_IMPL(BH_STATUS_CONCAT(bh_statusor_, __LINE__), lhs, expr)
// tmp and lhs are declarations: they cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define BH_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
