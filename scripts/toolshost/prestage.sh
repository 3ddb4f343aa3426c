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
# iconv, base64, and the AWS CLI for --password-parameter. Sources toolshost-lib.sh from its own directory.
#
# Output: one `DOMAIN_JOIN_RESULT {json}` line per computer on stdout; diagnostics on stderr.
# Exit codes (the highest per-computer code wins when several computers differ):
#   0  every computer created, reset, or already joined by its instance (left untouched)
#   2  usage error or invalid option value
#   3  the join user's password could not be read (empty or parameter unreadable)
#   4  Kerberos login as the join user failed
#   5  no domain controller found for the domain
#   6  at least one computer refused: an object of that name exists and is not ours (left untouched)
#   7  at least one computer failed: the directory rejected the add, the reset or the lookup (the result
#      line's message carries the directory's error text)
#   8  at least one malformed entry in DOMAIN_JOIN_COMPUTERS (or more than 50 entries)
#
# --ou must be a DN of 1-32 RDNs `type=value` whose values hold no `,` `=` `+` `\` `"` `'` `` ` `` `$` `;` `&`
# `|` `<` `>` or control character (newline included); non-ASCII letters are fine (OU=Büro): DNs travel
# base64-encoded in LDIF and LDAP's base64 answers are decoded.
set -euo pipefail
set -f  # no globbing: the computer list is split on blanks, and an entry must never expand to file names
umask 077
export LC_ALL=C  # byte-wise, ASCII-only regex ranges and English tool messages, whatever the caller's locale

readonly TOOL_NAME="prestage"
# The shared OU format (handlers/domain_join/patterns.py OU), in POSIX ERE.
readonly RDN_RE=$'[A-Za-z]{1,16}=[^,=+"\'`$;&|<>\\\x01-\x1f\x7f]+'
readonly OU_RE="^${RDN_RE}(,${RDN_RE}){0,31}\$"
ou=""

# The options only prestage takes (toolshost-lib.sh's parse_args hands them over).
own_option() {
  case "$1" in
    --ou)
      [ "$#" -ge 2 ] || abort "invalid-arguments" 2 "option $1 needs a value"
      ou=$2
      ;;
    *) return 1 ;;
  esac
}

# shellcheck source-path=SCRIPTDIR source=toolshost-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/toolshost-lib.sh"

unicode_pwd() { printf '"%s"' "$1" | iconv -f ASCII -t UTF-16LE | base64 -w0; }

# ldif_modify LDIF: sends LDIF (on stdin, never argv) to the directory; on failure ldap_error says why.
ldif_modify() {
  ldap_error=""
  if ! printf '%s' "$1" | ldap ldapmodify >"$workdir/modify.out" 2>&1; then
    ldap_error=$(ldap_error_text "$workdir/modify.out")
    return 1
  fi
}

prestage_one() {
  local name=$1 otp=$2 stamp=$3 dn password found=0
  lookup "$name" || found=$?
  if [ "$found" -eq 2 ]; then
    report "$name" "failed" 7 "looking up $name failed: $ldap_error"
    return
  fi
  if ! password=$(unicode_pwd "$otp"); then
    report "$name" "failed" 7 "encoding the one-time password of $name failed"
    return
  fi
  if [ "$found" -eq 1 ]; then
    dn="CN=$name,$ou"
    if ldif_modify "$(printf 'dn:%s\nchangetype: add\nobjectClass: computer\nsAMAccountName: %s$\nuserAccountControl: 4096\ndNSHostName: %s.%s\ndescription: %s\nunicodePwd:: %s\n' \
      "$(ldif_value "$dn")" "$name" "${name,,}" "$domain" "$stamp" "$password")"; then
      report "$name" "created" 0 "created $dn"
    else
      report "$name" "failed" 7 "creating $dn failed: $ldap_error"
    fi
    return
  fi
  dn=$found_dn
  if [ "$found_description" != "$stamp" ]; then
    report "$name" "refused" 6 "$dn exists and is not owned by this instance; left untouched"
    return
  fi
  if [ "$found_spns" -gt 0 ]; then
    # A redelivered or duplicate event after the join: a new OTP would lock the joined instance out.
    report "$name" "already-joined" 0 "$dn is ours and already joined (it has service principal names); left untouched"
    return
  fi
  if ldif_modify "$(printf 'dn:%s\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: %s\n-\n' \
    "$(ldif_value "$dn")" "$password")"; then
    report "$name" "reset" 0 "$dn is ours; one-time password reset"
  else
    report "$name" "failed" 7 "resetting the password of $dn failed: $ldap_error"
  fi
}

# A valid NAME=OTP=STAMP entry.
# shellcheck disable=SC2317,SC2329  # called through select_entries
prestage_entry() {
  local name=${1%%=*} rest=${1#*=}
  local otp=${rest%%=*} stamp=${rest#*=}
  [ "$rest" != "$1" ] && [ "$rest" != "$otp" ] &&
    [[ $name =~ $NAME_RE ]] && [[ $otp =~ $OTP_RE ]] && [[ $stamp =~ $STAMP_RE ]]
}

main() {
  parse_args "$@"
  [ -z "$ou" ] || [[ $ou =~ $OU_RE ]] || abort "invalid-arguments" 2 "--ou must be a DN of plain RDNs"
  select_entries prestage_entry "NAME=OTP=STAMP"
  read_password
  login
  [ -n "$ou" ] || ou="CN=Computers,$base_dn"
  local entry rest
  for entry in "${entries[@]}"; do
    rest=${entry#*=}
    prestage_one "${entry%%=*}" "${rest%%=*}" "${rest#*=}"
  done
  exit "$worst"
}

main "$@"
