#pragma once
// Install hints for Python dependencies a deployment's interpreter lacks: which Debian 12
// (bookworm) package provides a distribution, or that Debian 12 has none. The names differ
// often (pillow is python3-pil, scikit-learn python3-sklearn), so they are listed, not guessed;
// scripts/check-debian-hints checks every listed name against apt's package lists.

#include <span>
#include <string>
#include <string_view>

namespace berth::controlplane {

struct DebianPackage {
  std::string_view distribution;  // PEP 503 normalised, as NormalizePackageName gives it
  std::string_view package;       // the Debian 12 package; "" when Debian 12 has none
  // The import name to look for when the Debian package installs no distribution metadata
  // (python3-opencv installs cv2 alone), so the check cannot find the distribution by name.
  std::string_view module = "";
  std::string_view note = "";  // said after the package, when there is something to add
};

// Every entry, sorted by distribution.
std::span<const DebianPackage> DebianPackages();

// The entry of a normalised distribution name, or null when the table does not know it.
const DebianPackage* FindDebianPackage(std::string_view distribution);

// What to tell a user whose interpreter lacks `distribution` (normalised):
// "apt-get install python3-pil", "Debian 12 packages no lightgbm", or, for a name the table
// does not know, how to look for a package.
std::string DebianPackageHint(std::string_view distribution);

}  // namespace berth::controlplane
