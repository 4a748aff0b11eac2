// Typed access to one BPF map. The map's fd is borrowed from the bpf_object
// that owns it; a TypedMap must not outlive that object.
//
// Every error names the map, the operation, the key and the errno:
//   "update bh_policy 256->257 tcp/8080: E2BIG (Argument list too long)"
//
// CheckLayout() compares Key and Value with the kernel map's key and value
// sizes; Datapath calls it for every map it hands out, so a TypedMap of the
// wrong type never reads or writes past an entry.
//
// Not thread-safe by itself; the kernel side is safe for concurrent use.
//
//   TypedMap<bh_policy_key, bh_policy_value> policy(fd, "bh_policy");
//   BH_RETURN_IF_ERROR(policy.CheckLayout());
//   BH_RETURN_IF_ERROR(policy.Update(key, value));
#pragma once

#include <bpf/bpf.h>

#include <cerrno>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "datapath/abi.h"
#include "datapath/status.h"

namespace bulkhead {

template <typename Key, typename Value>
class TypedMap {
 public:
  TypedMap(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  int fd() const { return fd_; }

  // The kernel map's key and value sizes are this type's.
  absl::Status CheckLayout() const {
    BH_ASSIGN_OR_RETURN(bpf_map_info info, Info());
    if (info.key_size != sizeof(Key) || info.value_size != sizeof(Value))
      return absl::FailedPreconditionError(
          absl::StrCat("map ", name_, " has ", info.key_size, "-byte keys and ", info.value_size,
                       "-byte values; this build expects ", sizeof(Key), " and ", sizeof(Value)));
    return absl::OkStatus();
  }

  // The kernel map's capacity.
  absl::StatusOr<std::uint32_t> MaxEntries() const {
    BH_ASSIGN_OR_RETURN(bpf_map_info info, Info());
    return info.max_entries;
  }

  // flags: BPF_ANY (default), BPF_NOEXIST or BPF_EXIST.
  absl::Status Update(const Key& key, const Value& value, std::uint64_t flags = BPF_ANY) {
    if (bpf_map_update_elem(fd_, &key, &value, flags) != 0) return Error("update", key, errno);
    return absl::OkStatus();
  }

  // nullopt when the key is absent; an error only when the lookup failed.
  absl::StatusOr<std::optional<Value>> Lookup(const Key& key) const {
    Value value;
    if (bpf_map_lookup_elem(fd_, &key, &value) == 0) return value;
    if (errno == ENOENT) return std::nullopt;
    return Error("lookup", key, errno);
  }

  // Deleting an absent key is not an error.
  absl::Status Delete(const Key& key) {
    if (bpf_map_delete_elem(fd_, &key) == 0 || errno == ENOENT) return absl::OkStatus();
    return Error("delete", key, errno);
  }

  // Writes all entries in one syscall (hash maps). On failure, the entries
  // before the failing one are written; the error names the failing key.
  absl::Status UpdateBatch(std::span<const Key> keys, std::span<const Value> values) {
    if (keys.size() != values.size())
      return absl::InvalidArgumentError(absl::StrCat("update batch ", name_, ": ", keys.size(),
                                                     " keys but ", values.size(), " values"));
    std::size_t done = 0;
    while (done < keys.size()) {
      __u32 count = keys.size() - done;
      LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
      int rc = bpf_map_update_batch(fd_, keys.data() + done, values.data() + done, &count, &opts);
      done += count;
      if (rc != 0) return Error("update batch", keys[done < keys.size() ? done : 0], errno);
    }
    return absl::OkStatus();
  }

  // Deletes every entry for which pred is true (seen by one ForEach pass).
  absl::Status DeleteIf(absl::FunctionRef<bool(const Key&, const Value&)> pred) {
    std::vector<Key> doomed;
    BH_RETURN_IF_ERROR(ForEach([&](const Key& key, const Value& value) {
      if (pred(key, value)) doomed.push_back(key);
    }));
    for (const Key& key : doomed) BH_RETURN_IF_ERROR(Delete(key));
    return absl::OkStatus();
  }

  // Calls fn for every entry, each key at most once, also while the kernel
  // adds and removes entries (a conntrack table): hash maps are read bucket
  // by bucket with the batch lookup; other maps (LPM tries) key by key, with
  // a bound on the walk because a key deleted under it restarts it.
  absl::Status ForEach(absl::FunctionRef<void(const Key&, const Value&)> fn) const {
    absl::Status batched = ForEachBatched(fn);
    if (!absl::IsUnimplemented(batched)) return batched;
    BH_ASSIGN_OR_RETURN(std::uint32_t max_entries, MaxEntries());
    std::uint64_t budget = 4ull * max_entries + 16;
    Key key;
    Key next;
    const Key* prev = nullptr;
    while (bpf_map_get_next_key(fd_, prev, &next) == 0) {
      if (budget-- == 0)
        return absl::AbortedError(absl::StrCat("iterate ", name_, ": changed too much meanwhile"));
      Value value;
      if (bpf_map_lookup_elem(fd_, &next, &value) == 0)
        fn(next, value);
      else if (errno != ENOENT)
        return Error("lookup", next, errno);
      key = next;
      prev = &key;
    }
    if (errno != ENOENT) return ErrnoError(errno, absl::StrCat("iterate ", name_));
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<bpf_map_info> Info() const {
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd_, &info, &len) != 0)
      return ErrnoError(errno, absl::StrCat("read info of map ", name_));
    return info;
  }

  // Unimplemented when the map type has no batch lookup.
  absl::Status ForEachBatched(absl::FunctionRef<void(const Key&, const Value&)> fn) const {
    __u32 chunk = 256;
    std::vector<Key> keys(chunk);
    std::vector<Value> values(chunk);
    std::uint64_t batch = 0;  // opaque position, as big as a hash map's bucket index
    bool first = true;
    for (;;) {
      __u32 count = chunk;
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      std::uint64_t out = batch;
      int rc = bpf_map_lookup_batch(fd_, first ? nullptr : &batch, &out, keys.data(),
                                    values.data(), &count, &opts);
      int err = rc == 0 ? 0 : errno;
      if (err == ENOSPC && chunk < (1u << 20)) {  // one bucket holds more than a chunk
        chunk *= 2;
        keys.resize(chunk);
        values.resize(chunk);
        continue;
      }
      batch = out;
      if (rc != 0 && err != ENOENT) {
        if (first && (err == EINVAL || err == ENOTSUP || err == 524 /* ENOTSUPP */))
          return absl::UnimplementedError("no batch lookup");
        return ErrnoError(err, absl::StrCat("iterate ", name_));
      }
      for (__u32 i = 0; i < count; ++i) fn(keys[i], values[i]);
      if (err == ENOENT) return absl::OkStatus();  // the last chunk
      first = false;
    }
  }

  absl::Status Error(absl::string_view op, const Key& key, int err) const {
    std::string message = absl::StrCat(op, " ", name_, " ", DescribeKey(key));
    if (err == E2BIG) {
      if (auto max_entries = MaxEntries(); max_entries.ok())
        absl::StrAppend(&message, " (map full, ", *max_entries, " entries)");
    }
    return ErrnoError(err, message);
  }

  int fd_;
  std::string name_;
};

}  // namespace bulkhead
