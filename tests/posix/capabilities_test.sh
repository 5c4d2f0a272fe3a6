#!/bin/sh
# SPDX-License-Identifier: MIT
# capabilities().access_control_enforced is measured, not guessed from the uid: a
# process bypasses socket-file permissions when it holds CAP_DAC_OVERRIDE, whatever
# its uid. Runs the probe program as root with and without that capability, and as
# an ordinary user with and without it (as root; otherwise only as this user).
# Usage: capabilities_test.sh PROBE
set -u
probe=$1
fail=0
expect() {  # expect WANT DESCRIPTION COMMAND...
  want=$1 what=$2
  shift 2
  got=$("$@" 2>&1)
  if [ "$got" = "$want" ]; then
    echo "ok: $what: $got"
  else
    echo "FAIL: $what: expected '$want', got '$got'"
    fail=1
  fi
}

if [ "$(id -u)" != 0 ]; then
  # An ordinary user without capabilities is bound by permissions.
  expect enforced "$(id -un) without capabilities" "$probe"
  exit $fail
fi

# The probe must be reachable by another user: copy it to a directory of its own.
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
cp "$probe" "$dir/probe"
chmod 0755 "$dir" "$dir/probe"
group=$(id -gn nobody 2>/dev/null || echo nogroup)
as_nobody="setpriv --reuid=nobody --regid=$group --clear-groups"

expect "not enforced" "root" "$dir/probe"
expect enforced "root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH" \
  setpriv --inh-caps=-all --bounding-set=-dac_override,-dac_read_search "$dir/probe"
expect enforced "nobody without capabilities" \
  $as_nobody --inh-caps=-all --bounding-set=-all "$dir/probe"
expect "not enforced" "nobody with CAP_DAC_OVERRIDE" \
  $as_nobody --inh-caps=+dac_override --ambient-caps=+dac_override "$dir/probe"
exit $fail
