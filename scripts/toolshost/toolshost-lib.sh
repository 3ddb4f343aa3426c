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

readonly RESULT_TAG="DOMAIN_JOIN_RESULT"
readonly COMPUTERS_ENV="DOMAIN_JOIN_COMPUTERS"
readonly NAME_RE='^[A-Z][A-Z0-9-]{0,14}$'
# shellcheck disable=SC2034  # used by the sourcing scripts
readonly STAMP_RE='^ec2-domain-join:[0-9]{12}/[a-z0-9-]{1,32}/i-[0-9a-f]{8,17}$'
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

log() { printf '%s: %s\n' "$TOOL_NAME" "$*" >&2; }

json_string() {
  local value=${1//\\/\\\\}
  value=${value//\"/\\\"}
  printf '"%s"' "$value"
}

# report NAME STATUS EXIT_CODE MESSAGE: one result line; remembers the worst exit code.
report() {
  printf '%s {"computerName":%s,"status":%s,"exitCode":%d,"message":%s}\n' "$RESULT_TAG" \
    "$(json_string "$1")" "$(json_string "$2")" "$3" "$(json_string "$4")"
  if [ "$3" -gt "$worst" ]; then worst=$3; fi
}

# abort STATUS EXIT_CODE MESSAGE: a failure that concerns every computer of the list.
abort() {
  local entry name
  log "$3"
  for entry in ${!COMPUTERS_ENV:-}; do
    name=${entry%%=*}
    [[ $name =~ $NAME_RE ]] || name=""
    report "$name" "$1" "$2" "$3"
  done
  [ "$worst" -ge "$2" ] || report "" "$1" "$2" "$3"
  exit "$2"
}

# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
  if [ -n "$workdir" ] && [ -d "$workdir" ]; then
    KRB5CCNAME="FILE:$workdir/ccache" kdestroy -q >/dev/null 2>&1 || true
    rm -rf "$workdir"
  fi
}
trap cleanup EXIT

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
  local domain_re='^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$'
  [[ $domain =~ $domain_re ]] || abort "invalid-arguments" 2 "--domain must be a DNS domain name"
  domain=${domain,,}
  # name, NETBIOS\name or name@domain: Kerberos logs in as name@REALM of --domain.
  join_user=${join_user##*\\}
  join_user=${join_user%@*}
  [[ $join_user =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || abort "invalid-arguments" 2 "--join-user is invalid"
  [ -z "$server" ] || [[ $server =~ ^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$ ]] || abort "invalid-arguments" 2 "--server is invalid"
  [ -z "$region" ] || [[ $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || abort "invalid-arguments" 2 "--region is invalid"
  if [ "$password_stdin" = true ] && [ -n "$password_parameter" ]; then
    abort "invalid-arguments" 2 "give either --password-parameter or --password-stdin, not both"
  fi
  if [ "$password_stdin" != true ]; then
    [[ $password_parameter =~ ^[A-Za-z0-9/_.-]{1,2048}$ ]] ||
      abort "invalid-arguments" 2 "--password-parameter (an SSM parameter name) or --password-stdin is required"
  fi
}

# select_entries CHECK FORMAT: the entries of the computer list that the function CHECK accepts go to
# `entries`; every other one is reported as invalid-entry (FORMAT names the expected form). Exits when none
# is left, before any password is read.
select_entries() {
  local check=$1 format=$2 entry name
  entries=()
  for entry in ${!COMPUTERS_ENV:-}; do
    if "$check" "$entry"; then
      entries+=("$entry")
    else
      name=${entry%%=*}
      [[ $name =~ $NAME_RE ]] || name=""
      report "$name" "invalid-entry" 8 "malformed entry (expected $format)"
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
    password=$(aws ssm get-parameter ${region:+--region "$region"} --name "$password_parameter" \
      --with-decryption --query Parameter.Value --output text) || password=""
  fi
  [ -n "$password" ] || abort "no-password" 3 "the join user's password could not be read"
}

# Private Kerberos configuration and ticket cache: nothing of the host's own configuration is used or changed.
login() {
  local realm=${domain^^}
  workdir=$(mktemp -d)
  {
    printf '[libdefaults]\n default_realm = %s\n dns_lookup_kdc = true\n dns_lookup_realm = false\n' "$realm"
    printf ' rdns = false\n'
    if [ -n "$server" ]; then printf '[realms]\n %s = {\n  kdc = %s\n }\n' "$realm" "$server"; fi
  } >"$workdir/krb5.conf"
  export KRB5_CONFIG="$workdir/krb5.conf" KRB5CCNAME="FILE:$workdir/ccache"
  if ! printf '%s\n' "$password" | kinit "$join_user@$realm" >/dev/null 2>"$workdir/kinit.err"; then
    log "kinit: $(cat "$workdir/kinit.err")"
    abort "login-failed" 4 "Kerberos login as $join_user@$realm failed"
  fi
  password=""
  if [ -z "$server" ]; then
    server=$(adcli info --domain "$domain" 2>/dev/null | sed -n 's/^domain-controller = //p' | head -n1) || true
    [ -n "$server" ] || abort "no-domain-controller" 5 "no domain controller found for $domain"
  fi
  base_dn="DC=${domain//./,DC=}"
}

ldap() {
  local tool=$1
  shift
  "$tool" -N -Q -Y GSSAPI -H "ldap://$server" "$@"
}

# Prints "SPN_COUNT<TAB>dn<TAB>description" of the computer whose sAMAccountName is NAME$, or nothing when
# absent. SPN_COUNT is how many servicePrincipalName values it has: more than zero once an instance joined.
lookup() {
  ldap ldapsearch -LLL -o ldif-wrap=no -b "$base_dn" "(&(objectClass=computer)(sAMAccountName=$1\$))" \
    description servicePrincipalName | awk '
      /^dn: / { dn = substr($0, 5) }
      /^dn:: / { dn = "(base64)" }
      /^description: / { desc = substr($0, 14) }
      /^description:: / { desc = "(base64)" }
      tolower($0) ~ /^serviceprincipalname::? / { spns++ }
      END { if (dn != "") printf "%d\t%s\t%s\n", spns, dn, desc }'
}
