#!/usr/bin/env bash
# ec2-domain-join: remove computer accounts on a Linux AD tools host (Linux step of DomainJoin-Remove).
#
# Usage:
#   remove.sh --domain DOMAIN --join-user USER
#             (--password-parameter SSM_PARAMETER_NAME [--region REGION] | --password-stdin)
#             [--server DC_HOSTNAME]
#
# The computer list comes in the environment variable DOMAIN_JOIN_COMPUTERS, never in argv:
#   "COMPUTERNAME=STAMP COMPUTERNAME=STAMP ..."   STAMP = ec2-domain-join:<account>/<region>/<instance id>
# For each computer: no object with that sAMAccountName -> success (already gone); an object whose
# description is exactly STAMP -> delete it (adcli delete-computer); any other object -> refuse, untouched.
#
# The join user's password is read from the SSM SecureString (aws ssm get-parameter --with-decryption) or from
# stdin, never from argv; it only reaches kinit through a pipe.
# Needs: bash, adcli, MIT Kerberos client (kinit), OpenLDAP clients with the Cyrus SASL GSSAPI module, and the
# AWS CLI for --password-parameter. Sources toolshost-lib.sh from its own directory.
#
# Output: one `DOMAIN_JOIN_RESULT {json}` line per computer on stdout; diagnostics on stderr.
# Exit codes (the highest per-computer code wins when several computers differ):
#   0  every computer deleted or already gone
#   2  usage error or invalid option value
#   3  the join user's password could not be read (empty or parameter unreadable)
#   4  Kerberos login as the join user failed
#   5  no domain controller found for the domain
#   6  at least one computer refused: its object does not carry exactly our stamp (left untouched)
#   7  at least one computer failed: the lookup or the delete failed
#   8  at least one malformed entry in DOMAIN_JOIN_COMPUTERS (or more than 50 entries)
set -euo pipefail
set -f  # no globbing: the computer list is split on blanks, and an entry must never expand to file names
umask 077
export LC_ALL=C  # byte-wise, ASCII-only regex ranges and English tool messages, whatever the caller's locale

readonly TOOL_NAME="remove"

# remove takes the shared options only.
own_option() { return 1; }

# shellcheck source-path=SCRIPTDIR source=toolshost-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/toolshost-lib.sh"

remove_one() {
  local name=$1 stamp=$2 dn found=0 output
  lookup "$name" || found=$?
  if [ "$found" -eq 2 ]; then
    report "$name" "failed" 7 "looking up $name failed: $ldap_error"
    return
  fi
  if [ "$found" -eq 1 ]; then
    report "$name" "absent" 0 "no computer object named $name; nothing to remove"
    return
  fi
  dn=$found_dn  # the SPN count does not matter here
  if [ "$found_description" != "$stamp" ]; then
    report "$name" "refused" 6 "$dn does not carry the stamp of this instance; left untouched"
    return
  fi
  if ! output=$(adcli delete-computer --domain "$domain" --domain-controller "$server" \
    --login-ccache="${KRB5CCNAME#FILE:}" "$name" 2>&1); then
    printf '%s\n' "$output" >"$workdir/delete.out"
    report "$name" "failed" 7 "deleting $dn failed: $(ldap_error_text "$workdir/delete.out")"
    return
  fi
  found=0
  lookup "$name" || found=$?
  case "$found" in
    1) report "$name" "deleted" 0 "deleted $dn" ;;
    0) report "$name" "failed" 7 "deleting $dn failed: it is still there" ;;
    *) report "$name" "failed" 7 "checking the deletion of $dn failed: $ldap_error" ;;
  esac
}

# A valid NAME=STAMP entry.
# shellcheck disable=SC2317,SC2329  # called through select_entries
remove_entry() {
  [ "${1#*=}" != "$1" ] && [[ ${1%%=*} =~ $NAME_RE ]] && [[ ${1#*=} =~ $STAMP_RE ]]
}

main() {
  parse_args "$@"
  select_entries remove_entry "NAME=STAMP"
  read_password
  login
  local entry
  for entry in "${entries[@]}"; do
    remove_one "${entry%%=*}" "${entry#*=}"
  done
  exit "$worst"
}

main "$@"
