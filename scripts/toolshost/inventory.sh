#!/usr/bin/env bash
# ec2-domain-join: list the computer objects we own on a Linux AD tools host (Linux step of DomainJoin-Inventory).
#
# Usage:
#   inventory.sh --domain DOMAIN --join-user USER
#                (--password-parameter SSM_PARAMETER_NAME [--region REGION] | --password-stdin)
#                [--server DC_HOSTNAME] [--bases "OU_DN;OU_DN;..."] [--page-size N]
#
# One LDAP search per base (subtree scope, paged: --page-size entries per page, default 500, so the DC's
# size limit of 1,000 never cuts the answer) for the computer objects whose description starts with the
# stamp prefix; listed are only those whose one description is exactly a stamp
# (ec2-domain-join:<account>/<region>/<instance id>, the shared STAMP format) and whose sAMAccountName is
# NAME$ with NAME a computer name of ours. Nothing outside the bases is searched; nothing is changed.
# --bases: 1-16 OU DNs (the shared OU format) joined by ";"; empty or not given: the domain's Computers
# container. An object under two of the bases is listed once.
#
# Output, on success: exactly one line on stdout, a JSON document (the command's S3 output):
#   {"version":1,"domain":"corp.example.com","takenAt":"2026-12-02T15:00:00Z",
#    "objects":[{"name":"WEB-1A2B3C4D","dn":"CN=WEB-1A2B3C4D,OU=Servers,DC=corp,DC=example,DC=com",
#    "description":"ec2-domain-join:111122223333/eu-west-1/i-0123456789abcdef0"},...],"truncated":false}
# (takenAt: UTC, when the first search started; domain: --domain, lower case)
# "truncated" is true when the directory still ended a search early (size or admin limit): the objects listed
# are real, but more may exist. On failure: one `DOMAIN_JOIN_RESULT {json}` line and a non-zero exit code.
# Diagnostics on stderr.
#
# The join user's password is read from the SSM SecureString (aws ssm get-parameter --with-decryption) or from
# stdin, never from argv; it only reaches kinit through a pipe. The join user needs read access only.
# Needs: bash, adcli (DC discovery), MIT Kerberos client (kinit), OpenLDAP clients with the Cyrus SASL GSSAPI
# module, base64, and the AWS CLI for --password-parameter. Sources toolshost-lib.sh from its own directory.
#
# Exit codes:
#   0  listed (the JSON document is on stdout)
#   2  usage error or invalid option value
#   3  the join user's password could not be read (empty or parameter unreadable)
#   4  Kerberos login as the join user failed
#   5  no domain controller found for the domain
#   7  a search failed (a base that does not exist, no access, the DC's error text in the message)
set -euo pipefail
set -f  # no globbing: the bases are split on ";", and a value must never expand to file names
umask 077
export LC_ALL=C  # byte-wise, ASCII-only regex ranges and English tool messages, whatever the caller's locale

readonly TOOL_NAME="inventory"
# handlers/domain_join/contract.py: SEARCH_BASES_SEPARATOR, MAX_SEARCH_BASES, INVENTORY_FORMAT_VERSION.
readonly SEARCH_BASES_SEPARATOR=";"
readonly MAX_SEARCH_BASES=16
readonly INVENTORY_FORMAT_VERSION=1
readonly PAGE_SIZE_RE='^[1-9][0-9]{0,2}$|^1000$'
bases_value=""
page_size=500
unset DOMAIN_JOIN_COMPUTERS  # the inventory takes no computer list

# The options only inventory takes (toolshost-lib.sh's parse_args hands them over).
own_option() {
  case "$1" in
    --bases | --page-size)
      [ "$#" -ge 2 ] || abort "invalid-arguments" 2 "option $1 needs a value"
      if [ "$1" = --bases ]; then bases_value=$2; else page_size=$2; fi
      ;;
    *) return 1 ;;
  esac
}

# shellcheck source-path=SCRIPTDIR source=toolshost-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/toolshost-lib.sh"

bases=()
objects=""
truncated=false
declare -A listed_dn=()

# split_bases: --bases split on ";" into `bases` (an empty piece stays one, and is refused), each checked.
split_bases() {
  local rest=$bases_value base
  bases=()
  [ -n "$rest" ] || return 0
  while [[ $rest == *"$SEARCH_BASES_SEPARATOR"* ]]; do
    bases+=("${rest%%"$SEARCH_BASES_SEPARATOR"*}")
    rest=${rest#*"$SEARCH_BASES_SEPARATOR"}
  done
  bases+=("$rest")
  [ "${#bases[@]}" -le "$MAX_SEARCH_BASES" ] ||
    abort "invalid-arguments" 2 "--bases lists more than $MAX_SEARCH_BASES DNs"
  for base in "${bases[@]}"; do
    [[ $base =~ $OU_RE ]] || abort "invalid-arguments" 2 "--bases must be OU DNs of plain RDNs joined by ;"
  done
}

# list_base BASE: the objects of ours under BASE (subtree) are added to `objects`.
list_base() {
  local base=$1 code=0 i name skipped=0
  ldap ldapsearch -LLL -o ldif-wrap=no -E "pr=$page_size/noprompt" -b "$base" -s sub \
    "(&(objectClass=computer)(description=$STAMP_PREFIX*))" sAMAccountName description \
    >"$workdir/inventory.ldif" 2>"$workdir/ldap.err" || code=$?
  case "$code" in
    0) ;;
    4 | 11) truncated=true ;;  # sizeLimitExceeded, adminLimitExceeded: what came is real
    *) abort "failed" 7 "listing the computers under $base failed: $(ldap_error_text "$workdir/ldap.err")" ;;
  esac
  parse_records "$workdir/inventory.ldif" || abort "failed" 7 "reading the computers under $base failed: $ldap_error"
  for i in "${!record_dn[@]}"; do
    name=${record_name[i]%\$}
    if [ "${record_descriptions[i]}" -ne 1 ] || ! [[ ${record_description[i]} =~ $STAMP_RE ]] ||
      [ "$name\$" != "${record_name[i]}" ] || ! [[ $name =~ $NAME_RE ]]; then
      skipped=$((skipped + 1))  # a description that only starts like a stamp, or a name not of ours
      continue
    fi
    [ -z "${listed_dn["${record_dn[i],,}"]-}" ] || continue  # under two of the bases
    listed_dn["${record_dn[i],,}"]=1
    # The name and the stamp match formats without a quote, a backslash or a control character.
    objects+="${objects:+,}{\"name\":\"$name\",\"dn\":$(json_string "${record_dn[i]}"),"
    objects+="\"description\":\"${record_description[i]}\"}"
  done
  [ "$skipped" -eq 0 ] || log "$skipped objects under $base look like ours but are not (description or name); not listed"
}

main() {
  parse_args "$@"
  [[ $page_size =~ $PAGE_SIZE_RE ]] || abort "invalid-arguments" 2 "--page-size must be 1 to 1000"
  split_bases
  read_password
  login
  [ "${#bases[@]}" -gt 0 ] || bases=("CN=Computers,$base_dn")
  local base taken_at
  taken_at=$(date -u +%Y-%m-%dT%H:%M:%SZ) || abort "failed" 7 "reading the clock failed"
  for base in "${bases[@]}"; do list_base "$base"; done
  printf '{"version":%d,"domain":%s,"takenAt":%s,"objects":[%s],"truncated":%s}\n' "$INVENTORY_FORMAT_VERSION" \
    "$(json_string "$domain")" "$(json_string "$taken_at")" "$objects" "$truncated"
}

main "$@"
