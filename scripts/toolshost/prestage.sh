#!/usr/bin/env bash
# ec2-domain-join: prestage computer accounts on a Linux AD tools host (Linux step of DomainJoin-Prestage).
#
# Usage:
#   prestage.sh --domain DOMAIN [--ou OU_DN] --join-user USER
#               (--password-parameter SSM_PARAMETER_NAME [--region REGION] | --password-stdin)
#               [--server DC_HOSTNAME]
#
# The computer list comes in the environment variable DOMAIN_JOIN_COMPUTERS, never in argv:
#   "COMPUTERNAME=OTP=STAMP COMPUTERNAME=OTP=STAMP ..."   STAMP = ec2-domain-join:<account>/<region>/<instance id>
# For each computer: no object with that sAMAccountName anywhere in the domain -> create it in OU (default: the
# domain's Computers container) with the one-time password (OTP) and the stamp in `description`, in one LDAP
# add; an object whose description is exactly STAMP and that no instance has joined yet -> reset its password to
# the OTP (idempotent retry); an object with STAMP that the instance has already joined -> leave it untouched
# (resetting its password would break the instance's trust); any other object -> refuse and leave it untouched.
# "Already joined" means the object has a servicePrincipalName: prestage never writes one, and both adcli join
# and a Windows join register HOST/... SPNs right after replacing the OTP with their own machine password.
#
# The join user's password is read from the SSM SecureString (aws ssm get-parameter --with-decryption) or from
# stdin, never from argv; it only reaches kinit through a pipe. OTPs reach the directory in LDIF on a pipe
# over a Kerberos-sealed LDAP connection (ldapadd/ldapmodify -Y GSSAPI), never in argv.
# Needs: bash, adcli, MIT Kerberos client (kinit), OpenLDAP clients with the Cyrus SASL GSSAPI module,
# iconv, base64, and the AWS CLI for --password-parameter.
#
# Output: one `DOMAIN_JOIN_RESULT {json}` line per computer on stdout; diagnostics on stderr.
# Exit codes (the highest per-computer code wins when several computers differ):
#   0  every computer created, reset, or already joined by its instance (left untouched)
#   2  usage error or invalid option value
#   3  the join user's password could not be read (empty or parameter unreadable)
#   4  Kerberos login as the join user failed
#   5  no domain controller found for the domain
#   6  at least one computer refused: an object of that name exists and is not ours (left untouched)
#   7  at least one computer failed: the directory rejected the add, the reset or the lookup
#   8  at least one malformed entry in DOMAIN_JOIN_COMPUTERS
set -euo pipefail
set -f  # no globbing: the computer list is split on blanks, and an entry must never expand to file names
umask 077

readonly RESULT_TAG="DOMAIN_JOIN_RESULT"
readonly COMPUTERS_ENV="DOMAIN_JOIN_COMPUTERS"
readonly STAMP_RE='^ec2-domain-join:[0-9]{12}/[a-z0-9-]{1,32}/i-[0-9a-f]{8,17}$'

domain=""
ou=""
join_user=""
password_parameter=""
password_stdin=false
server=""
region=""
workdir=""
worst=0

log() { printf 'prestage: %s\n' "$*" >&2; }

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
    [[ $name =~ ^[A-Z][A-Z0-9-]{0,14}$ ]] || name=""
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

parse_args() {
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --domain | --ou | --join-user | --password-parameter | --server | --region)
        [ "$#" -ge 2 ] || abort "invalid-arguments" 2 "option $1 needs a value"
        case "$1" in
          --domain) domain=$2 ;;
          --ou) ou=$2 ;;
          --join-user) join_user=$2 ;;
          --password-parameter) password_parameter=$2 ;;
          --server) server=$2 ;;
          --region) region=$2 ;;
        esac
        shift 2
        ;;
      --password-stdin) password_stdin=true; shift ;;
      -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 0 ;;
      *) abort "invalid-arguments" 2 "unknown argument: $1" ;;
    esac
  done
  local domain_re='^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$'
  [[ $domain =~ $domain_re ]] || abort "invalid-arguments" 2 "--domain must be a DNS domain name"
  domain=${domain,,}
  [ -z "$ou" ] || [[ $ou =~ ^[A-Za-z]+=[^=]+(,[A-Za-z]+=[^=,]+)*$ ]] || abort "invalid-arguments" 2 "--ou must be a DN"
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

imds_region() {
  local token
  token=$(curl -fsS --max-time 3 --retry 3 -X PUT "http://169.254.169.254/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 60") || return 1
  curl -fsS --max-time 3 --retry 3 -H "X-aws-ec2-metadata-token: $token" \
    "http://169.254.169.254/latest/meta-data/placement/region"
}

password=""
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
  [ -n "$ou" ] || ou="CN=Computers,$base_dn"
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

unicode_pwd() { printf '"%s"' "$1" | iconv -f ASCII -t UTF-16LE | base64 -w0; }

prestage_one() {
  local name=$1 otp=$2 stamp=$3 found spns dn description
  if ! found=$(lookup "$name"); then
    report "$name" "failed" 7 "looking up $name failed"
    return
  fi
  if [ -z "$found" ]; then
    dn="CN=$name,$ou"
    if printf 'dn: %s\nchangetype: add\nobjectClass: computer\nsAMAccountName: %s$\nuserAccountControl: 4096\ndNSHostName: %s.%s\ndescription: %s\nunicodePwd:: %s\n' \
      "$dn" "$name" "${name,,}" "$domain" "$stamp" "$(unicode_pwd "$otp")" | ldap ldapmodify >/dev/null; then
      report "$name" "created" 0 "created $dn"
    else
      report "$name" "failed" 7 "creating $dn failed"
    fi
    return
  fi
  spns=${found%%$'\t'*}
  found=${found#*$'\t'}
  dn=${found%%$'\t'*}
  description=${found#*$'\t'}
  if [ "$description" != "$stamp" ]; then
    report "$name" "refused" 6 "$dn exists and is not owned by this instance; left untouched"
    return
  fi
  if [ "$spns" -gt 0 ]; then
    # A redelivered or duplicate event after the join: a new OTP would lock the joined instance out.
    report "$name" "already-joined" 0 "$dn is ours and already joined (it has service principal names); left untouched"
    return
  fi
  if printf 'dn: %s\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: %s\n-\n' "$dn" "$(unicode_pwd "$otp")" |
    ldap ldapmodify >/dev/null; then
    report "$name" "reset" 0 "$dn is ours; one-time password reset"
  else
    report "$name" "failed" 7 "resetting the password of $dn failed"
  fi
}

main() {
  parse_args "$@"
  local entry name rest otp stamp
  local -a valid=()
  for entry in ${!COMPUTERS_ENV:-}; do
    name=${entry%%=*}
    rest=${entry#*=}
    otp=${rest%%=*}
    stamp=${rest#*=}
    if [[ $name =~ ^[A-Z][A-Z0-9-]{0,14}$ ]] && [[ $otp =~ ^[A-Za-z0-9]{24,128}$ ]] && [[ $stamp =~ $STAMP_RE ]] &&
      [ "$rest" != "$otp" ]; then
      valid+=("$entry")
    else
      [[ $name =~ ^[A-Z][A-Z0-9-]{0,14}$ ]] || name=""
      report "$name" "invalid-entry" 8 "malformed entry (expected NAME=OTP=STAMP)"
    fi
  done
  if [ "${#valid[@]}" -eq 0 ]; then
    [ "$worst" -gt 0 ] || report "" "invalid-entry" 8 "$COMPUTERS_ENV lists no computer"
    exit "$worst"
  fi
  read_password
  login
  for entry in "${valid[@]}"; do
    name=${entry%%=*}
    rest=${entry#*=}
    prestage_one "$name" "${rest%%=*}" "${rest#*=}"
  done
  exit "$worst"
}

main "$@"
