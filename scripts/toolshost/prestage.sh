#!/usr/bin/env bash
# ec2-domain-join: prestage computer accounts on a Linux AD tools host (Linux step of DomainJoin-Prestage).
#
# Usage:
#   prestage.sh --domain DOMAIN [--ou OU_DN] --join-user USER
#               (--password-parameter SSM_PARAMETER_NAME [--region REGION] | --password-stdin)
#               [--server DC_HOSTNAME] [--sealing-key KMS_KEY_ARN --sealed-batch BATCH_ID]
#
# The computer list comes in the environment variable DOMAIN_JOIN_COMPUTERS, never in argv:
#   "COMPUTERNAME=OTP=STAMP COMPUTERNAME=OTP=STAMP ..."   STAMP = ec2-domain-join:<account>/<region>/<instance id>
# Sealed (--sealing-key given; the handler always seals): DOMAIN_JOIN_COMPUTERS holds 1-8 base64 KMS
# ciphertexts (padding cut) joined by spaces; each is opened with `aws kms decrypt` in the key's Region under
# the encryption context {"ec2-domain-join:purpose":"prestage","ec2-domain-join:batch":BATCH_ID} (the key
# policy lets only the tools-host role open it, only with that context). The ciphertext reaches the CLI on
# stdin, the plaintext comes back on a pipe into a shell variable (never argv, a file or the output), and the
# opened list (the plain grammar above) is no longer exported to the tools the script runs.
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
#   9  the sealed list could not be opened (kms decrypt refused, wrong context or key, KMS unreachable)
#
# --ou must be a DN of 1-32 RDNs `type=value` whose values hold no `,` `=` `+` `\` `"` `'` `` ` `` `$` `;` `&`
# `|` `<` `>` or control character (newline included); non-ASCII letters are fine (OU=Büro): DNs travel
# base64-encoded in LDIF and LDAP's base64 answers are decoded.
set -euo pipefail
set -f  # no globbing: the computer list is split on blanks, and an entry must never expand to file names
umask 077
export LC_ALL=C  # byte-wise, ASCII-only regex ranges and English tool messages, whatever the caller's locale

readonly TOOL_NAME="prestage"
ou=""  # checked with toolshost-lib.sh's OU_RE (the shared OU format)
sealing_key=""
sealed_batch=""

# The options only prestage takes (toolshost-lib.sh's parse_args hands them over).
own_option() {
  case "$1" in
    --ou)
      [ "$#" -ge 2 ] || abort "invalid-arguments" 2 "option $1 needs a value"
      ou=$2
      ;;
    --sealing-key | --sealed-batch)
      [ "$#" -ge 2 ] || abort "invalid-arguments" 2 "option $1 needs a value"
      if [ "$1" = --sealing-key ]; then sealing_key=$2; else sealed_batch=$2; fi
      ;;
    *) return 1 ;;
  esac
}

# shellcheck source-path=SCRIPTDIR source=toolshost-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/toolshost-lib.sh"

# The sealed list's formats (handlers/domain_join/wire.py: KMS_KEY_ARN, BATCH_ID, SEALED, MAX_SEALED_PIECES).
readonly KMS_KEY_ARN_RE="^arn:aws(-[a-z]{1,10}){0,2}:kms:${REGION_PART}:[0-9]{12}:key/[A-Za-z0-9-]{1,128}\$"
readonly BATCH_ID_RE='^[0-9a-f]{32}$'
readonly SEALED_RE='^[A-Za-z0-9+/]+$'  # 64-8192 characters, checked apart
readonly MAX_SEALED_PIECES=8

# unseal_piece CIPHERTEXT REGION CONTEXT: the plaintext of one piece on stdout (a pipe to the caller's
# variable); the ciphertext goes to the AWS CLI on stdin, its base64 answer to base64 -d on a pipe.
unseal_piece() {
  local blob=$1
  while ((${#blob} % 4)); do blob+="="; done
  printf '%s' "$blob" | base64 -d |
    aws kms decrypt --region "$2" --key-id "$sealing_key" --encryption-context "$3" \
      --ciphertext-blob fileb:///dev/stdin --query Plaintext --output text | base64 -d
}

# unseal_computers: with --sealing-key, replaces the sealed DOMAIN_JOIN_COMPUTERS by the list it seals, kept
# in this shell only (no longer exported). Without it the list is plain and --sealed-batch must be empty.
unseal_computers() {
  local pieces=() piece plain list="" key_region context
  if [ -z "$sealing_key" ]; then
    [ -z "$sealed_batch" ] || abort "invalid-arguments" 2 "--sealed-batch needs --sealing-key"
    return 0
  fi
  [[ $sealing_key =~ $KMS_KEY_ARN_RE ]] || abort "invalid-arguments" 2 "--sealing-key is not a KMS key ARN"
  [[ $sealed_batch =~ $BATCH_ID_RE ]] || abort "invalid-arguments" 2 "--sealed-batch is not a batch id"
  IFS=: read -r _ _ _ key_region _ <<<"$sealing_key"
  context=$(printf '{"ec2-domain-join:purpose":"prestage","ec2-domain-join:batch":"%s"}' "$sealed_batch")
  read -r -a pieces <<<"${!COMPUTERS_ENV:-}"
  if [ "${#pieces[@]}" -eq 0 ] || [ "${#pieces[@]}" -gt "$MAX_SEALED_PIECES" ]; then
    abort "invalid-entry" 8 "$COMPUTERS_ENV holds ${#pieces[@]} sealed pieces (1 to $MAX_SEALED_PIECES)"
  fi
  for piece in "${pieces[@]}"; do
    [[ $piece =~ $SEALED_RE ]] && [ "${#piece}" -ge 64 ] && [ "${#piece}" -le 8192 ] ||
      abort "invalid-entry" 8 "$COMPUTERS_ENV holds a malformed sealed piece"
    if ! plain=$(unseal_piece "$piece" "$key_region" "$context"); then
      abort "unseal-failed" 9 "kms decrypt of the sealed computer list failed (key $sealing_key)"
    fi
    list+=${list:+ }$plain
  done
  printf -v "$COMPUTERS_ENV" '%s' "$list"
  export -n "${COMPUTERS_ENV?}"
}

unicode_pwd() { printf '"%s"' "$1" | iconv -f ASCII -t UTF-16LE | base64 -w0; }

# prestage_round ROUND: one search for the computers of this round, then one batch (one LDAP connection)
# with the creations and resets among them.
prestage_round() {
  local round=$1 i name rest otp stamp index dn password ldif="" error
  local -a todo=() change=() target=() dn_line=()
  local -A batched=()
  search_round "$round" || return 0
  for i in "${todo[@]}"; do
    name=${entries[i]%%=*} rest=${entries[i]#*=}
    otp=${rest%%=*} stamp=${rest#*=}
    index=${record_of[$name]-}
    if [ -n "$index" ]; then
      dn=${record_dn[index]}
      if [ "${record_descriptions[index]}" -ne 1 ] || [ "${record_description[index]}" != "$stamp" ]; then
        outcome "$i" "refused" 6 "$dn exists and is not owned by this instance; left untouched"
        continue
      fi
      if [ "${record_spns[index]}" -gt 0 ]; then
        # A redelivered or duplicate event after the join: a new OTP would lock the joined instance out.
        outcome "$i" "already-joined" 0 "$dn is ours and already joined (it has service principal names); left untouched"
        continue
      fi
    else
      dn="CN=$name,$ou"
    fi
    if [ -n "${batched[${dn,,}]-}" ]; then
      defer "$i"  # one change per DN in a batch: its rejection must name one entry
      continue
    fi
    if ! password=$(unicode_pwd "$otp"); then
      outcome "$i" "failed" 7 "encoding the one-time password of $name failed"
      continue
    fi
    batched[${dn,,}]=1
    target[i]=$dn
    dn_line[i]="dn:$(ldif_value "$dn")"
    if [ -z "$index" ]; then
      change[i]="created"
      ldif+=$(printf '%s\nchangetype: add\nobjectClass: computer\nsAMAccountName: %s$\nuserAccountControl: 4096\ndNSHostName: %s.%s\ndescription: %s\nunicodePwd:: %s\n' \
        "${dn_line[i]}" "$name" "${name,,}" "$domain" "$stamp" "$password")$'\n\n'
    else
      change[i]="reset"
      ldif+=$(printf '%s\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: %s\n-\n' "${dn_line[i]}" "$password")$'\n\n'
    fi
  done
  [ -n "$ldif" ] || return 0
  if ! modify_batch "$ldif"; then
    for i in "${!change[@]}"; do rejected["${dn_line[i]}"]=$ldap_error; done
  fi
  for i in "${!change[@]}"; do
    dn=${target[i]}
    error=${rejected[${dn_line[i]}]-}
    case "${change[i]}:${error:+rejected}" in
      created:) outcome "$i" "created" 0 "created $dn" ;;
      created:rejected) outcome "$i" "failed" 7 "creating $dn failed: $error" ;;
      reset:) outcome "$i" "reset" 0 "$dn is ours; one-time password reset" ;;
      reset:rejected) outcome "$i" "failed" 7 "resetting the password of $dn failed: $error" ;;
    esac
  done
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
  unseal_computers
  select_entries prestage_entry "NAME=OTP=STAMP"
  read_password
  login
  [ -n "$ou" ] || ou="CN=Computers,$base_dn"
  local round
  plan_rounds
  for ((round = 0; round <= last_round; round++)); do prestage_round "$round"; done
  report_outcomes
  exit "$worst"
}

main "$@"
