#!/usr/bin/env bash
# ec2-domain-join: remove computer accounts on a Linux AD tools host (Linux step of DomainJoin-Remove).
#
# Usage:
#   remove.sh --domain DOMAIN --join-user USER
#             (--password-parameter SSM_PARAMETER_NAME [--region REGION] | --password-stdin)
#             [--server DC_HOSTNAME] [--action delete|disable]
#
# The computer list comes in the environment variable DOMAIN_JOIN_COMPUTERS, never in argv:
#   "COMPUTERNAME=STAMP COMPUTERNAME=STAMP ..."   STAMP = ec2-domain-join:<account>/<region>/<instance id>
# For each computer: no object with that sAMAccountName -> success (already gone); an object whose only
# description is exactly STAMP -> with --action delete (the default), delete it together with its child
# objects (BitLocker recovery information, service connection points: the LDAP tree-delete control
# 1.2.840.113556.1.4.805); with --action disable, set ACCOUNTDISABLE (0x2) in its userAccountControl and keep
# it (quarantine); any other object -> refuse, untouched.
# The stamp is read and compared before any change. A disable is one LDAP modify that also deletes and
# re-adds the stamp value, so the directory refuses it when the description changed in between. A delete
# cannot carry such a condition (neither AD nor Samba offers the LDAP assertion control), so it follows the
# comparison on the same connection's ticket within milliseconds; the result is then checked by a second search.
# All computers of a run share one search, one ldapmodify (one connection) and one check.
#
# The join user's password is read from the SSM SecureString (aws ssm get-parameter --with-decryption) or from
# stdin, never from argv; it only reaches kinit through a pipe.
# Needs: bash, adcli (DC discovery), MIT Kerberos client (kinit), OpenLDAP clients with the Cyrus SASL GSSAPI
# module, and the AWS CLI for --password-parameter. Sources toolshost-lib.sh from its own directory.
#
# Output: one `DOMAIN_JOIN_RESULT {json}` line per computer on stdout; diagnostics on stderr.
# Exit codes (the highest per-computer code wins when several computers differ):
#   0  every computer deleted (or disabled) or already gone
#   2  usage error or invalid option value
#   3  the join user's password could not be read (empty or parameter unreadable)
#   4  Kerberos login as the join user failed
#   5  no domain controller found for the domain
#   6  at least one computer refused: its object does not carry exactly our stamp (left untouched)
#   7  at least one computer failed: the lookup, the delete/disable or its check failed
#   8  at least one malformed entry in DOMAIN_JOIN_COMPUTERS (or more than 50 entries)
set -euo pipefail
set -f  # no globbing: the computer list is split on blanks, and an entry must never expand to file names
umask 077
export LC_ALL=C  # byte-wise, ASCII-only regex ranges and English tool messages, whatever the caller's locale

readonly TOOL_NAME="remove"
readonly TREE_DELETE_CONTROL="1.2.840.113556.1.4.805"
readonly ACCOUNTDISABLE=2
action="delete"

# The options only remove takes (toolshost-lib.sh's parse_args hands them over).
own_option() {
  case "$1" in
    --action)
      [ "$#" -ge 2 ] || abort "invalid-arguments" 2 "option $1 needs a value"
      action=$2
      ;;
    *) return 1 ;;
  esac
}

# shellcheck source-path=SCRIPTDIR source=toolshost-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/toolshost-lib.sh"

# remove_round ROUND: one search for the computers of this round, one batch (one LDAP connection) of their
# deletes or disables, and one search that checks the outcome.
remove_round() {
  local round=$1 i name stamp index dn uac ldif="" error verb
  local -a todo=() names=() change=() target=() dn_line=() checked=()
  search_round "$round" || return 0
  for i in "${todo[@]}"; do
    name=${entries[i]%%=*} stamp=${entries[i]#*=}
    index=${record_of[$name]-}
    if [ -z "$index" ]; then
      outcome "$i" "absent" 0 "no computer object named $name; nothing to remove"
      continue
    fi
    dn=${record_dn[index]}  # the SPN count does not matter here
    if [ "${record_descriptions[index]}" -ne 1 ] || [ "${record_description[index]}" != "$stamp" ]; then
      outcome "$i" "refused" 6 "$dn does not carry the stamp of this instance; left untouched"
      continue
    fi
    target[i]=$dn
    dn_line[i]="dn:$(ldif_value "$dn")"
    if [ "$action" = delete ]; then
      change[i]="delete"
      ldif+="${dn_line[i]}"$'\n'"control: $TREE_DELETE_CONTROL true"$'\nchangetype: delete\n\n'
      continue
    fi
    uac=${record_uac[index]}
    if ! [[ $uac =~ ^[0-9]{1,10}$ ]]; then
      outcome "$i" "failed" 7 "disabling $dn failed: its userAccountControl could not be read"
      continue
    fi
    if (((uac & ACCOUNTDISABLE) != 0)); then
      outcome "$i" "disabled" 0 "$dn is ours and already disabled; kept"
      continue
    fi
    change[i]="disable"
    # The stamp value is deleted and added back in the same modify: no stamp, no change.
    ldif+=$(printf '%s\nchangetype: modify\ndelete: description\ndescription: %s\n-\nadd: description\ndescription: %s\n-\ndelete: userAccountControl\nuserAccountControl: %s\n-\nadd: userAccountControl\nuserAccountControl: %s\n-\n' \
      "${dn_line[i]}" "$stamp" "$stamp" "$uac" "$((uac | ACCOUNTDISABLE))")$'\n\n'
  done
  [ -n "$ldif" ] || return 0
  if ! modify_batch "$ldif"; then
    for i in "${!change[@]}"; do rejected["${dn_line[i]}"]=$ldap_error; done
  fi
  names=()
  for i in "${!change[@]}"; do
    verb="disabling"
    [ "${change[i]}" != delete ] || verb="deleting"
    error=${rejected[${dn_line[i]}]-}
    if [ -n "$error" ]; then
      outcome "$i" "failed" 7 "$verb ${target[i]} failed: $error"
    else
      checked+=("$i")
      names+=("${entries[i]%%=*}")
    fi
  done
  [ "${#checked[@]}" -gt 0 ] || return 0
  if ! search_computers "${names[@]}"; then
    for i in "${checked[@]}"; do
      verb="disabling"
      [ "${change[i]}" != delete ] || verb="deletion"
      outcome "$i" "failed" 7 "checking the $verb of ${target[i]} failed: $ldap_error"
    done
    return
  fi
  for i in "${checked[@]}"; do
    index=${record_of[${entries[i]%%=*}]-}
    dn=${target[i]}
    case "${change[i]}:${index:+present}" in
      delete:) outcome "$i" "deleted" 0 "deleted $dn" ;;
      delete:present) outcome "$i" "failed" 7 "deleting $dn failed: it is still there" ;;
      disable:) outcome "$i" "failed" 7 "disabling $dn failed: it is gone" ;;
      disable:present)
        uac=${record_uac[index]}
        if [[ $uac =~ ^[0-9]{1,10}$ ]] && (((uac & ACCOUNTDISABLE) != 0)); then
          outcome "$i" "disabled" 0 "disabled $dn (kept with its stamp)"
        else
          outcome "$i" "failed" 7 "disabling $dn failed: it is still enabled"
        fi
        ;;
    esac
  done
}

# A valid NAME=STAMP entry.
# shellcheck disable=SC2317,SC2329  # called through select_entries
remove_entry() {
  [ "${1#*=}" != "$1" ] && [[ ${1%%=*} =~ $NAME_RE ]] && [[ ${1#*=} =~ $STAMP_RE ]]
}

main() {
  parse_args "$@"
  case "$action" in
    delete | disable) ;;
    *) abort "invalid-arguments" 2 "--action must be delete or disable" ;;
  esac
  select_entries remove_entry "NAME=STAMP"
  read_password
  login
  local round
  plan_rounds
  for ((round = 0; round <= last_round; round++)); do remove_round "$round"; done
  report_outcomes
  exit "$worst"
}

main "$@"
