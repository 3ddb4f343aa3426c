#!/usr/bin/env bash
# ec2-domain-join: what prestage.sh and remove.sh share on a Linux AD tools host. Sourced, never run: each
# script sources it from its own directory (the SSM documents write it next to the script), after its own
# `set -euo pipefail`, `set -f` and `umask 077`.
#
# It holds the options both take (--domain, --join-user, --password-parameter / --password-stdin, --server,
# --region), the result lines, the join user's password (SSM SecureString or stdin, never argv), the Kerberos
# login in a private directory, the DC discovery and the LDAP lookup of a computer object.
# The sourcing script defines `own_option OPTION [VALUE]` for the options only it takes (return 1 for an
# option it does not know) and sets TOOL_NAME (the prefix of its diagnostics) before sourcing.
#
# Input checks (the shared formats of handlers/domain_join/patterns.py; tests/scripts/test_patterns.py runs
# them against the same corpus as the handler's patterns): --domain a DNS name; --join-user `name`,
# `NETBIOS\name` or `name@dns.domain` (Kerberos logs in as name@REALM); --region a Region name of any
# partition; --password-parameter an SSM parameter name. The computer list: 1-50 entries joined by single
# spaces; each malformed entry is reported (exit 8) and the others are processed.

readonly RESULT_TAG="DOMAIN_JOIN_RESULT"
readonly COMPUTERS_ENV="DOMAIN_JOIN_COMPUTERS"
readonly MAX_COMPUTERS=50
# Kerberos tickets of the join user live this long at most: a run killed before its EXIT trap (SIGKILL)
# leaves a ticket that expires soon.
readonly TICKET_LIFETIME="10m"
# The shared formats (handlers/domain_join/patterns.py), in POSIX ERE (LC_ALL=C: byte-wise ranges).
readonly LABEL_RE='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
readonly DOMAIN_RE="^${LABEL_RE}(\\.${LABEL_RE})+\$"
readonly USER_RE="^([A-Za-z0-9][A-Za-z0-9-]{0,14}\\\\)?[A-Za-z0-9][A-Za-z0-9._-]{0,63}(@${LABEL_RE}(\\.${LABEL_RE})+)?\$"
readonly REGION_PART='[a-z]{2,4}(-[a-z]{2,10}){1,3}-[0-9]{1,2}'
readonly REGION_RE="^${REGION_PART}\$"
# SSM parameter name, up to 2048 characters (the length is checked apart: a bounded repeat of 2047 costs
# glibc's regcomp about 250 ms).
readonly PARAMETER_NAME_RE='^[A-Za-z0-9_/][A-Za-z0-9_./-]*$'
readonly PARAMETER_NAME_MAX=2048
readonly NAME_RE='^[A-Z][A-Z0-9-]{0,14}$'
# shellcheck disable=SC2034  # used by the sourcing scripts
readonly OTP_RE='^[A-Za-z0-9]{24,128}$'
# The ownership stamp (handlers/domain_join/contract.py STAMP_PREFIX, patterns.py STAMP).
readonly STAMP_PREFIX="ec2-domain-join:"
# shellcheck disable=SC2034  # used by the sourcing scripts
readonly STAMP_RE="^${STAMP_PREFIX}[0-9]{12}/${REGION_PART}/i-[0-9a-f]{8,17}\$"
# The shared OU format (handlers/domain_join/patterns.py OU): prestage's --ou, inventory's --bases.
readonly RDN_RE=$'[A-Za-z]{1,16}=[^,=+"\'`$;&|<>\\\x01-\x1f\x7f]+'
# shellcheck disable=SC2034  # used by the sourcing scripts
readonly OU_RE="^${RDN_RE}(,${RDN_RE}){0,31}\$"
: "${TOOL_NAME:?set TOOL_NAME before sourcing toolshost-lib.sh}"

domain=""
join_user=""
password_parameter=""
password_stdin=false
password=""
server=""
region=""
base_dn=""
workdir=""
worst=0
entries=()
# What the last search found (parse_records), one element per object: its DN, sAMAccountName, the last of
# its description values and how many it has, its number of servicePrincipalName values (more than zero
# once an instance joined) and its userAccountControl. record_of maps NAME (upper case, without "$") to the
# index of its object. On a failed search or change, ldap_error holds the directory's error text.
record_dn=()
record_name=()
record_description=()
record_descriptions=()
record_spns=()
record_uac=()
declare -A record_of=()
# What the last modify_batch rejected: the "dn:" line of each rejected record -> the directory's error.
declare -A rejected=()
ldap_error=""

log() { printf '%s: %s\n' "$TOOL_NAME" "$*" >&2; }

# json_string VALUE: VALUE as a JSON string (RFC 8259: '"', '\' and every control character escaped).
json_string() {
  local value=$1 out="" char code i
  value=${value//\\/\\\\}
  value=${value//\"/\\\"}
  value=${value//$'\n'/\\n}
  value=${value//$'\r'/\\r}
  value=${value//$'\t'/\\t}
  if [[ $value == *[$'\x01'-$'\x1f'$'\x7f']* ]]; then
    for ((i = 0; i < ${#value}; i++)); do
      char=${value:i:1}
      if [[ $char == [$'\x01'-$'\x1f'$'\x7f'] ]]; then
        printf -v code '%d' "'$char"
        printf -v char '\\u%04x' "$code"
      fi
      out+=$char
    done
    value=$out
  fi
  printf '"%s"' "$value"
}

# report NAME STATUS EXIT_CODE MESSAGE: one result line; remembers the worst exit code.
report() {
  printf '%s {"computerName":%s,"status":%s,"exitCode":%d,"message":%s}\n' "$RESULT_TAG" \
    "$(json_string "$1")" "$(json_string "$2")" "$3" "$(json_string "$4")"
  if [ "$3" -gt "$worst" ]; then worst=$3; fi
}

# list_entries: the computer list split on single spaces into `listed` (an empty entry stays one: the
# grammar allows no double, leading or trailing space).
listed=()
list_entries() {
  local rest=${!COMPUTERS_ENV:-}
  listed=()
  [ -n "$rest" ] || return 0
  while [[ $rest == *" "* ]]; do
    listed+=("${rest%% *}")
    rest=${rest#* }
  done
  listed+=("$rest")
}

# entry_name ENTRY: its computer name when well-formed, else "" (never echo a malformed value).
entry_name() {
  local name=${1%%=*}
  [[ $name =~ $NAME_RE ]] || name=""
  printf '%s' "$name"
}

# abort STATUS EXIT_CODE MESSAGE: a failure that concerns every computer of the list; exits with the worst
# code reported so far (a malformed entry's 8 stays visible when the password then is missing, 3).
abort() {
  local entry
  log "$3"
  list_entries
  for entry in ${listed[@]+"${listed[@]}"}; do
    report "$(entry_name "$entry")" "$1" "$2" "$3"
  done
  [ "$worst" -ge "$2" ] || report "" "$1" "$2" "$3"
  exit "$worst"
}

# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
  if [ -n "$workdir" ] && [ -d "$workdir" ]; then
    KRB5CCNAME="FILE:$workdir/ccache" kdestroy -q >/dev/null 2>&1 || true
    rm -rf "$workdir"
  fi
}
trap cleanup EXIT
# A signal ends the run through exit, so the EXIT trap removes the ticket cache and the work directory.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# parse_args ARGS...: the shared options; any other one goes to the script's own_option.
parse_args() {
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --domain | --join-user | --password-parameter | --server | --region)
        [ "$#" -ge 2 ] || abort "invalid-arguments" 2 "option $1 needs a value"
        case "$1" in
          --domain) domain=$2 ;;
          --join-user) join_user=$2 ;;
          --password-parameter) password_parameter=$2 ;;
          --server) server=$2 ;;
          --region) region=$2 ;;
        esac
        shift 2
        ;;
      --password-stdin) password_stdin=true; shift ;;
      -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 0 ;;
      *)
        own_option "$@" || abort "invalid-arguments" 2 "unknown argument: $1"
        shift 2
        ;;
    esac
  done
  [[ $domain =~ $DOMAIN_RE ]] || abort "invalid-arguments" 2 "--domain must be a DNS domain name"
  domain=${domain,,}
  [[ $join_user =~ $USER_RE ]] || abort "invalid-arguments" 2 "--join-user is invalid"
  # name, NETBIOS\name or name@domain: Kerberos logs in as name@REALM of --domain.
  join_user=${join_user##*\\}
  join_user=${join_user%%@*}
  [ -z "$server" ] || [[ $server =~ ^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$ ]] || abort "invalid-arguments" 2 "--server is invalid"
  [ -z "$region" ] || [[ $region =~ $REGION_RE ]] || abort "invalid-arguments" 2 "--region is invalid"
  if [ "$password_stdin" = true ] && [ -n "$password_parameter" ]; then
    abort "invalid-arguments" 2 "give either --password-parameter or --password-stdin, not both"
  fi
  if [ "$password_stdin" != true ]; then
    [[ $password_parameter =~ $PARAMETER_NAME_RE ]] && [ "${#password_parameter}" -le "$PARAMETER_NAME_MAX" ] ||
      abort "invalid-arguments" 2 "--password-parameter (an SSM parameter name) or --password-stdin is required"
  fi
}

# select_entries CHECK FORMAT: the entries of the computer list that the function CHECK accepts go to
# `entries`; every other one is reported as invalid-entry (FORMAT names the expected form). Exits when none
# is left, or when the list holds more than MAX_COMPUTERS entries, before any password is read.
select_entries() {
  local check=$1 format=$2 entry
  entries=()
  list_entries
  if [ "${#listed[@]}" -gt "$MAX_COMPUTERS" ]; then
    abort "invalid-entry" 8 "$COMPUTERS_ENV lists more than $MAX_COMPUTERS computers"
  fi
  for entry in ${listed[@]+"${listed[@]}"}; do
    if "$check" "$entry"; then
      entries+=("$entry")
    else
      report "$(entry_name "$entry")" "invalid-entry" 8 "malformed entry (expected $format)"
    fi
  done
  if [ "${#entries[@]}" -eq 0 ]; then
    [ "$worst" -gt 0 ] || report "" "invalid-entry" 8 "$COMPUTERS_ENV lists no computer"
    exit "$worst"
  fi
}

imds_region() {
  local token
  token=$(curl -fsS --max-time 3 --retry 3 -X PUT "http://169.254.169.254/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 60") || return 1
  curl -fsS --max-time 3 --retry 3 -H "X-aws-ec2-metadata-token: $token" \
    "http://169.254.169.254/latest/meta-data/placement/region"
}

read_password() {
  if [ "$password_stdin" = true ]; then
    IFS= read -r password || true
  else
    region=${region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}
    if [ -z "$region" ]; then region=$(imds_region) || region=""; fi
    [ -z "$region" ] || [[ $region =~ $REGION_RE ]] || abort "invalid-arguments" 2 "the Region is invalid"
    password=$(aws ssm get-parameter ${region:+--region "$region"} --name "$password_parameter" \
      --with-decryption --query Parameter.Value --output text) || password=""
  fi
  [ -n "$password" ] || abort "no-password" 3 "the join user's password could not be read"
}

# Private Kerberos configuration and ticket cache (short-lived, removed on exit): nothing of the host's own
# configuration is used or changed.
login() {
  local realm=${domain^^}
  workdir=$(mktemp -d) || abort "login-failed" 4 "cannot create a private work directory"
  if ! {
    printf '[libdefaults]\n default_realm = %s\n dns_lookup_kdc = true\n dns_lookup_realm = false\n' "$realm"
    printf ' rdns = false\n'
    if [ -n "$server" ]; then printf '[realms]\n %s = {\n  kdc = %s\n }\n' "$realm" "$server"; fi
  } >"$workdir/krb5.conf"; then
    abort "login-failed" 4 "cannot write the private Kerberos configuration"
  fi
  export KRB5_CONFIG="$workdir/krb5.conf" KRB5CCNAME="FILE:$workdir/ccache"
  if ! printf '%s\n' "$password" | kinit -l "$TICKET_LIFETIME" "$join_user@$realm" >/dev/null 2>"$workdir/kinit.err"; then
    log "kinit: $(cat "$workdir/kinit.err")"
    abort "login-failed" 4 "Kerberos login as $join_user@$realm failed"
  fi
  password=""
  if [ -z "$server" ]; then
    server=$(adcli info --domain "$domain" 2>/dev/null | sed -n 's/^domain-controller = //p' | head -n1) || server=""
    [ -n "$server" ] || abort "no-domain-controller" 5 "no domain controller found for $domain"
  fi
  base_dn="DC=${domain//./,DC=}"
}

ldap() {
  local tool=$1
  shift
  "$tool" -N -Q -Y GSSAPI -H "ldap://$server" "$@"
}

# ldap_error_text FILE: the directory's error from a tool's output, on one line.
ldap_error_text() {
  local text
  text=$(tr -s '\n\t' '  ' <"$1") || text=""
  text=${text%" "}
  printf '%s' "${text:-no error text}"
}

# ldif_value VALUE: VALUE as an LDIF attribute value after "attr:" ("attr:: base64" when it is not a safe
# ASCII string, e.g. a DN with "ü").
ldif_value() {
  if [[ $1 =~ ^[A-Za-z0-9=,\ ._/:-]*$ ]] && [[ $1 != " "* ]]; then
    printf ' %s' "$1"
  else
    printf ': %s' "$(printf '%s' "$1" | base64 -w0)"
  fi
}

# Rounds and outcomes. Each round handles every computer it holds with one search and one batch of changes;
# an entry naming a computer that an earlier entry of the run names (or, in prestage, the same DN) waits for
# the next round, so it sees what the earlier one did, as one run per entry would. The outcomes are reported
# in the order of the list once every round is done.
entry_round=()
last_round=0
outcome_status=()
outcome_code=()
outcome_message=()

# plan_rounds: entry_round[i] = how many earlier entries name the same computer.
plan_rounds() {
  local i name
  local -A seen=()
  last_round=0
  for i in "${!entries[@]}"; do
    name=${entries[i]%%=*}
    entry_round[i]=${seen[$name]-0}
    seen[$name]=$((entry_round[i] + 1))
    [ "${entry_round[i]}" -le "$last_round" ] || last_round=${entry_round[i]}
  done
}

# defer INDEX: entry INDEX waits for the next round.
defer() {
  entry_round[$1]=$((entry_round[$1] + 1))
  [ "${entry_round[$1]}" -le "$last_round" ] || last_round=${entry_round[$1]}
}

# outcome INDEX STATUS EXIT_CODE MESSAGE: what happened to entry INDEX (reported by report_outcomes).
outcome() {
  outcome_status[$1]=$2
  outcome_code[$1]=$3
  outcome_message[$1]=$4
}

report_outcomes() {
  local i
  for i in "${!entries[@]}"; do
    report "${entries[i]%%=*}" "${outcome_status[i]}" "${outcome_code[i]}" "${outcome_message[i]}"
  done
}

# parse_records FILE: the objects of an LDIF answer (ldapsearch -LLL -o ldif-wrap=no) into the record_*
# arrays and record_of. Base64 values (dn::, description::; LDAP returns them for non-ASCII text such as
# OU=Büro) are decoded, keeping every byte (a description "STAMP<newline>" is not STAMP). Returns 1 with
# ldap_error set when a value cannot be decoded.
# shellcheck disable=SC2034  # the record_* arrays are read by the sourcing scripts
parse_records() {
  local line attribute value index=-1 name
  record_dn=() record_name=() record_description=() record_descriptions=() record_spns=() record_uac=()
  record_of=()
  while IFS= read -r line || [ -n "$line" ]; do
    attribute=${line%%:*}
    [[ $attribute =~ ^[A-Za-z][A-Za-z0-9-]*$ ]] || continue  # blank lines, "# comments", continuations
    value=${line#*:}
    case "$value" in
      :*)
        value=${value#:}
        # The "x" keeps trailing newlines of the decoded value.
        if ! value=$(printf '%s' "${value# }" | base64 -d 2>/dev/null && printf x); then
          ldap_error="undecodable base64 value of $attribute"
          return 1
        fi
        value=${value%x}
        ;;
      *) value=${value# } ;;
    esac
    if [ "${attribute,,}" = dn ]; then
      index=$((index + 1))
      record_dn[index]=$value record_name[index]="" record_description[index]="" record_descriptions[index]=0
      record_spns[index]=0 record_uac[index]=""
      continue
    fi
    [ "$index" -ge 0 ] || continue
    case "${attribute,,}" in
      samaccountname)
        record_name[index]=$value
        name=${value^^}
        [ "${name%\$}" = "$name" ] || record_of["${name%\$}"]=$index
        ;;
      description) record_description[index]=$value record_descriptions[index]=$((record_descriptions[index] + 1)) ;;
      serviceprincipalname) record_spns[index]=$((record_spns[index] + 1)) ;;
      useraccountcontrol) record_uac[index]=$value ;;
    esac
  done <"$1"
}

# search_computers NAME...: one search for the computer objects whose sAMAccountName is NAME$ (anywhere in
# the domain), read into the record_* arrays. Returns 1 with ldap_error set when the search failed.
search_computers() {
  local filter="" name
  for name in "$@"; do filter+="(sAMAccountName=$name\$)"; done  # NAME_RE: nothing to escape
  ldap_error=""
  if ! ldap ldapsearch -LLL -o ldif-wrap=no -b "$base_dn" "(&(objectClass=computer)(|$filter))" \
    sAMAccountName description servicePrincipalName userAccountControl >"$workdir/search.ldif" 2>"$workdir/ldap.err"; then
    ldap_error=$(ldap_error_text "$workdir/ldap.err")
    return 1
  fi
  parse_records "$workdir/search.ldif"
}

# search_round ROUND: the entries of round ROUND (plan_rounds) into the caller's `todo` array (indexes into
# entries), then one search_computers for their computers. When that search fails, each of them is reported
# failed (exit code 7: the lookup) and it returns 1.
search_round() {
  local i
  local -a names=()
  for i in "${!entries[@]}"; do
    [ "${entry_round[i]}" -eq "$1" ] || continue
    todo+=("$i")
    names+=("${entries[i]%%=*}")
  done
  if ! search_computers "${names[@]}"; then
    for i in "${todo[@]}"; do outcome "$i" "failed" 7 "looking up ${entries[i]%%=*} failed: $ldap_error"; done
    return 1
  fi
}

# modify_batch LDIF: every change record of LDIF over one authenticated connection (one ldapmodify, the LDIF
# on its stdin, never argv), going on past a record the directory rejects (-c). Each rejected record comes
# back on a pipe (-S) with the directory's error, and lands in `rejected` under its "dn:" line (the
# one-time passwords of rejected records are dropped on the way, never written). Returns 0 when every record
# was applied or each failure was reported for its record; 1 when the run failed as a whole (login, no
# connection, killed: no record can be taken as applied), with ldap_error set.
# shellcheck disable=SC2034  # ldap_error is read by the sourcing scripts
modify_batch() {
  local line error="" code=0 whole=false
  local -a status
  rejected=()
  ldap_error=""
  if ! printf '%s' "$1" | ldap ldapmodify -c -S /dev/fd/3 3>&1 >"$workdir/modify.out" 2>&1 |
    sed '/^unicodePwd:/d' >"$workdir/rejects"; then
    status=("${PIPESTATUS[@]}")
    code=${status[1]}
    [ "${status[2]}" -eq 0 ] || whole=true  # the rejects were not all written down
  fi
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      "# Error: "*) error=${line#"# Error: "} ;;
      dn:*) [ -z "$error" ] || rejected["$line"]=$error; error="" ;;
    esac
  done <"$workdir/rejects"
  # Exit 0: every record applied. A failure with rejected records: those failed, the others were applied
  # (ldapmodify -c exits with the last record's error). Killed (128+), or failed with nothing rejected (the
  # login or the connection failed): nothing can be taken as applied.
  if [ "$code" -ne 0 ] && { [ "$whole" = true ] || [ "$code" -ge 128 ] || [ "${#rejected[@]}" -eq 0 ]; }; then
    ldap_error=$(ldap_error_text "$workdir/modify.out")
    return 1
  fi
}
