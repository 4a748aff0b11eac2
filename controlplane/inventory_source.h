// Where the workloads and network sets come from. The agent reads its source
// at start and, every second, again if the source says it may have changed;
// each read is applied as one transaction (a bad one changes nothing). The
// inventory file is the first source; the Kubernetes watch plugs in here.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controlplane/identity_table.h"

namespace bulkhead {

class InventorySource {
 public:
  virtual ~InventorySource() = default;
  // The inventory now; errors name the source, the entry and the field.
  virtual absl::StatusOr<Inventory> Read() = 0;
  // Cheap: whether it may differ from what the last Read() returned.
  virtual bool MayHaveChanged() = 0;
  // "file /etc/bulkhead/inventory.yaml", for logs.
  virtual std::string Describe() const = 0;
};

// What changes when a file is replaced or rewritten (a ConfigMap's symlink
// swap, an editor's rename, an in-place write): device, inode, size, mtime.
class FileWatch {
 public:
  explicit FileWatch(std::string path) : path_(std::move(path)), stamp_(Stamp()) {}
  // Whether the file changed since the last call (or construction).
  bool Changed();
  const std::string& path() const { return path_; }

 private:
  std::string Stamp() const;
  std::string path_;
  std::string stamp_;
};

// The inventory YAML file (identity_table.h has its format).
class FileInventorySource final : public InventorySource {
 public:
  explicit FileInventorySource(std::string path) : watch_(std::move(path)) {}
  absl::StatusOr<Inventory> Read() override { return LoadInventory(watch_.path()); }
  bool MayHaveChanged() override { return watch_.Changed(); }
  std::string Describe() const override { return "file " + watch_.path(); }

 private:
  FileWatch watch_;
};

}  // namespace bulkhead
