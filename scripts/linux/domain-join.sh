#!/usr/bin/env bash
# ec2-domain-join: join this Linux instance to Active Directory with the one-time password of the
# computer account that the AD tools host prestaged for it (Linux step of the DomainJoin-Join document).
#
# Usage (as root):
#   domain-join.sh --domain DOMAIN [--dns-ips IP[,IP...]] [--login-group GROUP] [--sudo-group GROUP]
#                  [--instance-id ID] [--install-packages true|false] [--skip-packages]
#                  [--wait-seconds N] [--retry-interval N] [--sealing-key KMS_KEY_ARN] [--dry-run]
#
# The computer list comes in the environment variable DOMAIN_JOIN_COMPUTERS, never in argv:
#   "INSTANCEID=COMPUTERNAME=OTP INSTANCEID=COMPUTERNAME=OTP ..."
# This instance picks the entry of its own instance id (IMDSv2, unless --instance-id is given).
# An empty option value means "not given". The one-time password (OTP) is handed to adcli on stdin only.
# --sealing-key: the OTPs are sealed; this instance opens its own (docs/scripts.md "Sealed one-time passwords").
#
# --install-packages false (or --skip-packages; the document's InstallPackages parameter) forbids installing
# (a private subnet without a package mirror): the AD client must then be baked into the image, and a missing
# piece ends the run with exit 14 and the list of packages to bake in.
#
# Preflight, before a join (docs/scripts.md "Preflight"): the domain's SRV records resolve, the first DC
# answers on TCP 88, 389, 445 and 464, its clock is within 300 s of ours (bash, coreutils and getent only;
# 3 s per probe); retried every --retry-interval until --wait-seconds, then its exit code and reason.
#
# Output: one line `DOMAIN_JOIN_RESULT {json}` on stdout; diagnostics on stderr. Neither ever holds the OTP.
# A failed preflight check names itself in the result line's "check" field (dns, port-88, port-389,
# port-445, port-464, clock); it is "" otherwise.
#
# Exit codes:
#   0  joined, or already joined to this domain under this name (nothing changed)
#   2  usage error or invalid option value
#   3  not running as root
#   4  no valid entry for this instance in DOMAIN_JOIN_COMPUTERS, or the list breaks its grammar
#   5  instance id unavailable (IMDSv2 did not answer)
#   6  package installation failed
#   7  DNS resolver configuration failed (writing the files or restarting systemd-resolved)
#   8  the domain rejected the join (wrong or expired one-time password, or another AD error)
#   9  the prestaged computer account did not appear before --wait-seconds ran out
#   10 configuration failed: writing krb5.conf, sssd.conf or the sudoers drop-in, NSS/PAM setup (authselect,
#      pam-auth-update, pam-config, nsswitch.conf) or restarting sssd
#   11 the sudoers drop-in failed validation (visudo -c) or visudo is missing
#   12 already joined to another domain or under another computer name (left untouched)
#   13 no domain controller reachable before --wait-seconds ran out
#   14 installing is forbidden (--install-packages false) and AD client packages are missing
#   15 preflight "dns": an SRV record of the domain does not resolve (or its DC name has no address)
#   16 preflight "port-88": the domain controller does not answer on TCP 88 (Kerberos)
#   17 preflight "port-389": the domain controller does not answer on TCP 389 (LDAP)
#   18 preflight "port-445": the domain controller does not answer on TCP 445 (SMB)
#   19 preflight "port-464": the domain controller does not answer on TCP 464 (Kerberos password change)
#   20 preflight "clock": this clock is more than 300 s off the domain controller's
#   21 the sealed one-time password could not be opened
#
# Input checks (the shared formats of handlers/domain_join/patterns.py; tests/scripts/test_patterns.py runs
# them against the same corpus as the handler's patterns): --domain a DNS name; --dns-ips 1-8 comma-separated
# IPv4 addresses; groups `name`, `NETBIOS\name` or `name@dns.domain` (written to sssd and sudoers as the short
# name, which is what sssd reports); the computer list: 1-50 entries joined by single spaces, each
# INSTANCEID=COMPUTERNAME=OTP, every entry well-formed.
set -euo pipefail
set -f  # no globbing: the computer list is split on blanks, and an entry must never expand to file names
umask 077
export LC_ALL=C  # byte-wise, ASCII-only regex ranges and English tool messages, whatever the caller's locale

readonly RESULT_TAG="DOMAIN_JOIN_RESULT"
readonly COMPUTERS_ENV="DOMAIN_JOIN_COMPUTERS"
readonly KEYTAB="/etc/krb5.keytab"
readonly KRB5_CONF="/etc/krb5.conf"
readonly SSSD_CONF="/etc/sssd/sssd.conf"
readonly SUDOERS_DROPIN="/etc/sudoers.d/ec2-domain-join"
readonly RESOLVED_DROPIN="/etc/systemd/resolved.conf.d/ec2-domain-join.conf"
readonly NM_DROPIN="/etc/NetworkManager/conf.d/ec2-domain-join.conf"
readonly IMDS="http://169.254.169.254"
readonly MAX_COMPUTERS=50
# The shared formats (handlers/domain_join/patterns.py), in POSIX ERE.
readonly LABEL_RE='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
readonly DOMAIN_RE="^${LABEL_RE}(\\.${LABEL_RE})+\$"
readonly OCTET_RE='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
readonly IPV4_RE="${OCTET_RE}(\\.${OCTET_RE}){3}"
readonly IPV4_LIST_RE="^${IPV4_RE}(,${IPV4_RE}){0,7}\$"
readonly GROUP_RE="^([A-Za-z0-9][A-Za-z0-9-]{0,14}\\\\)?[A-Za-z0-9]([A-Za-z0-9 ._-]{0,254}[A-Za-z0-9._-])?(@${LABEL_RE}(\\.${LABEL_RE})+)?\$"
readonly INSTANCE_ID_RE='^i-[0-9a-f]{8,17}$'
readonly COMPUTER_NAME_RE='^[A-Z][A-Z0-9-]{0,14}$'
readonly OTP_RE='^[A-Za-z0-9]{24,128}$'
readonly BOOLEAN_RE='^(true|false)$'
readonly SEALED_RE='^[A-Za-z0-9+/]{64,}$'
readonly HOSTNAME_RE="^${LABEL_RE}(\\.${LABEL_RE})*\$"
readonly PROBE_SECONDS=3      # bound of each preflight probe (DNS query, TCP connect, LDAP search)
readonly MAX_CLOCK_SKEW=300   # Kerberos' default tolerance, in seconds
# The preflight's TCP ports, in order, with what each one is for.
readonly PREFLIGHT_PORTS=(88 389 445 464)
declare -rA PORT_PURPOSE=([88]="Kerberos" [389]="LDAP" [445]="SMB" [464]="Kerberos password change")
declare -rA PORT_EXIT=([88]=16 [389]=17 [445]=18 [464]=19)
# An anonymous LDAP search of the rootDSE for currentTime (BER: messageID 1, base "", scope base, filter
# (objectClass=*), attributes [currentTime]); every AD DC answers it without a bind.
readonly ROOTDSE_TIME_QUERY='\x30\x32\x02\x01\x01\x63\x2d\x04\x00\x0a\x01\x00\x0a\x01\x00\x02\x01\x00\x02\x01\x00\x01\x01\x00\x87\x0bobjectClass\x30\x0d\x04\x0bcurrentTime'

domain=""
dns_ips=""
login_group=""
sudo_group=""
instance_id=""
install_allowed=true
wait_seconds=600
sealing_key=""
secret_re=$OTP_RE  # SEALED_RE with --sealing-key
retry_interval=10
dry_run=false

computer_name=""
changed=false
check=""  # the failing preflight check, for the result line

log() { printf 'domain-join: %s\n' "$*" >&2; }

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

# result STATUS EXIT_CODE MESSAGE: print the one result line and exit.
result() {
  local status=$1 code=$2 message=$3
  printf '%s {"status":%s,"exitCode":%d,"changed":%s,"instanceId":%s,"computerName":%s,"domain":%s,"check":%s,"message":%s}\n' \
    "$RESULT_TAG" "$(json_string "$status")" "$code" "$changed" "$(json_string "$instance_id")" \
    "$(json_string "$computer_name")" "$(json_string "$domain")" "$(json_string "$check")" \
    "$(json_string "$message")"
  exit "$code"
}

fail() { log "$3"; result "$1" "$2" "$3"; }

usage_error() { fail "invalid-arguments" 2 "$1"; }

parse_args() {
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --domain | --dns-ips | --login-group | --sudo-group | --instance-id | --wait-seconds | --retry-interval | \
        --install-packages | --sealing-key)
        [ "$#" -ge 2 ] || usage_error "option $1 needs a value"
        case "$1" in
          --domain) domain=$2 ;;
          --dns-ips) dns_ips=$2 ;;
          --login-group) login_group=$2 ;;
          --sudo-group) sudo_group=$2 ;;
          --instance-id) instance_id=$2 ;;
          --wait-seconds) wait_seconds=$2 ;;
          --retry-interval) retry_interval=$2 ;;
          --install-packages) install_allowed=$2 ;;
          --sealing-key) sealing_key=$2 ;;
        esac
        shift 2
        ;;
      --skip-packages) install_allowed=false; shift ;;
      --dry-run) dry_run=true; shift ;;
      -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 0 ;;
      *) usage_error "unknown argument: $1" ;;
    esac
  done
}

# short_name GROUP: the bare name of NETBIOS\name or name@dns.domain, which is how sssd reports the group
# (use_fully_qualified_names = false) and so how sudoers and simple_allow_groups must spell it.
short_name() {
  local name=${1##*\\}
  printf '%s' "${name%%@*}"
}

validate_args() {
  # An invalid value is reported without echoing it: it may hold anything.
  [ -n "$domain" ] || usage_error "--domain is required"
  [[ $domain =~ $DOMAIN_RE ]] || usage_error "--domain is not a DNS domain name"
  domain=${domain,,}
  [ -z "$dns_ips" ] || [[ $dns_ips =~ $IPV4_LIST_RE ]] ||
    usage_error "--dns-ips must be 1-8 comma-separated IPv4 addresses"
  [ -z "$login_group" ] || [[ $login_group =~ $GROUP_RE ]] || usage_error "--login-group has invalid characters"
  [ -z "$sudo_group" ] || [[ $sudo_group =~ $GROUP_RE ]] || usage_error "--sudo-group has invalid characters"
  [ -z "$instance_id" ] || [[ $instance_id =~ $INSTANCE_ID_RE ]] || usage_error "--instance-id is not an instance id"
  [[ $wait_seconds =~ ^[0-9]{1,6}$ ]] || usage_error "--wait-seconds must be a whole number of seconds"
  [[ $retry_interval =~ ^[1-9][0-9]{0,3}$ ]] || usage_error "--retry-interval must be a positive whole number"
  [[ $install_allowed =~ $BOOLEAN_RE ]] || usage_error "--install-packages must be true or false"
  [ -z "$sealing_key" ] || [[ $sealing_key =~ ^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]+:key/ ]] || usage_error "bad --sealing-key"
  [ -z "$sealing_key" ] || secret_re=$SEALED_RE
  login_group=$(short_name "$login_group")
  sudo_group=$(short_name "$sudo_group")
}

# imds PATH: an IMDSv2 answer (PATH under /latest/).
imds() {
  local token
  token=$(curl -fsS --max-time 3 --retry 3 -X PUT "$IMDS/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 60") || return 1
  curl -fsS --max-time 3 --retry 3 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/$1"
}

# valid_entry ENTRY: INSTANCEID=COMPUTERNAME=OTP.
valid_entry() {
  local id=${1%%=*} rest=${1#*=}
  local name=${rest%%=*} otp=${rest#*=}
  [ "$rest" != "$1" ] && [ "$otp" != "$rest" ] && [[ $id =~ $INSTANCE_ID_RE ]] &&
    [[ $name =~ $COMPUTER_NAME_RE ]] && [[ $otp =~ $secret_re ]]
}

# unseal_otp: the sealed otp opened with this instance's role (ciphertext on stdin, OTP through pipes).
unseal_otp() {
  local partition key_region doc account arn blob
  [ -n "$sealing_key" ] || return 0
  IFS=: read -r _ partition _ key_region _ <<<"$sealing_key"
  doc=$(imds dynamic/instance-identity/document) &&
    [[ $doc =~ \"accountId\"[[:space:]]*:[[:space:]]*\"([0-9]{12})\" ]] && account=${BASH_REMATCH[1]} &&
    [[ $doc =~ \"region\"[[:space:]]*:[[:space:]]*\"([a-z0-9-]+)\" ]] ||
    fail "unseal-failed" 21 "IMDSv2 identity document unreadable"
  arn="arn:$partition:ec2:${BASH_REMATCH[1]}:$account:instance/$instance_id"
  blob=$otp
  while ((${#blob} % 4)); do blob+="="; done
  otp=$(printf '%s' "$blob" | base64 -d | aws kms decrypt --region "$key_region" --key-id "$sealing_key" \
    --encryption-context "{\"ec2-domain-join:purpose\":\"join\",\"ec2-domain-join:instance-arn\":\"$arn\"}" \
    --ciphertext-blob fileb:///dev/stdin --query Plaintext --output text | base64 -d) && [[ $otp =~ $OTP_RE ]] ||
    { otp=""; fail "unseal-failed" 21 "kms decrypt failed"; }
}

# Sets computer_name and otp from this instance's entry of the computer list. The whole list must follow
# the grammar (1-50 entries joined by single spaces, each well-formed), as the document's allowedPattern
# and the handler's encoder have it: anything else did not come from them.
otp=""
select_entry() {
  local list=${!COMPUTERS_ENV:-} rest entry count=0 mine=""
  [ -n "$list" ] || fail "no-entry" 4 "$COMPUTERS_ENV lists no computer"
  rest=$list
  while :; do
    entry=${rest%% *}
    count=$((count + 1))
    if ! valid_entry "$entry"; then
      fail "invalid-entry" 4 "entry $count of $COMPUTERS_ENV is malformed"
    fi
    if [ "${entry%%=*}" = "$instance_id" ]; then mine=$entry; fi
    [[ $rest == *" "* ]] || break
    rest=${rest#* }
  done
  [ "$count" -le "$MAX_COMPUTERS" ] || fail "invalid-entry" 4 "$COMPUTERS_ENV lists more than $MAX_COMPUTERS computers"
  [ -n "$mine" ] || fail "no-entry" 4 "no entry for $instance_id in $COMPUTERS_ENV"
  rest=${mine#*=}
  computer_name=${rest%%=*}
  otp=${rest#*=}
}

has_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

# write_if_changed PATH MODE CONTENT: replace PATH atomically when its content differs (then sets
# changed=true and wrote=true). Returns 1 when a step failed, with PATH left as it was.
wrote=false
write_if_changed() {
  local path=$1 mode=$2 content=$3 tmp
  wrote=false
  if [ -f "$path" ] && [ ! -L "$path" ] && [ "$(cat "$path")" = "$content" ]; then
    return 0
  fi
  if ! mkdir -p "$(dirname "$path")"; then
    log "cannot create the directory of $path"
    return 1
  fi
  if ! tmp=$(mktemp "$path.XXXXXX"); then
    log "cannot create a temporary file next to $path"
    return 1
  fi
  if ! printf '%s\n' "$content" >"$tmp" || ! chmod "$mode" "$tmp" || ! mv -f "$tmp" "$path"; then
    log "cannot write $path"
    rm -f "$tmp" || true
    return 1
  fi
  wrote=true
  changed=true
}

# Where the distributions keep shared libraries, sssd's providers and PAM modules (shell patterns).
readonly LIBRARY_DIRS='/usr/lib/*-linux-gnu /usr/lib64 /usr/lib /lib/*-linux-gnu /lib64'

# has_library RELATIVE: 0 when RELATIVE exists under one of LIBRARY_DIRS (globbing is off everywhere else).
has_library() {
  local dir
  set +f
  for dir in $LIBRARY_DIRS; do
    if [ -e "$dir/$1" ]; then
      set -f
      return 0
    fi
  done
  set -f
  return 1
}

# have_command NAME: NAME is an executable on PATH (bash's `command -v` also names a file that is not).
have_command() {
  local path
  path=$(command -v "$1") && [ -x "$path" ]
}

# package_family: apt, dnf (also yum) or zypper, for the package names; "" when none is known.
package_family() {
  if command -v apt-get >/dev/null; then echo apt
  elif command -v dnf >/dev/null || command -v yum >/dev/null; then echo dnf
  elif command -v zypper >/dev/null; then echo zypper
  fi
}

# missing_packages: the packages (this distribution's names) whose pieces the join needs and cannot find:
# adcli, sssd with its AD provider, the NSS and PAM modules, the MIT Kerberos client (kinit, klist).
# Prints nothing when all are there.
missing_packages() {
  local family missing=()
  family=$(package_family)
  local krb=krb5-user pam=libpam-sss nss=libnss-sss
  case "$family" in
    dnf) krb=krb5-workstation pam=sssd-client nss=sssd-client ;;
    zypper) krb=krb5-client pam=sssd nss=sssd ;;
  esac
  have_command adcli || missing+=(adcli)
  have_command sssd || missing+=(sssd)
  has_library sssd/libsss_ad.so || missing+=(sssd-ad)
  has_library libnss_sss.so.2 || missing+=("$nss")
  has_library security/pam_sss.so || missing+=("$pam")
  { have_command kinit && have_command klist; } || missing+=("$krb")
  [ "${#missing[@]}" -eq 0 ] || printf '%s\n' "${missing[@]}" | awk '!seen[$0]++' | paste -sd ' ' -
}

install_packages() {
  local missing
  missing=$(missing_packages) || return 1
  [ -n "$missing" ] || return 0
  log "installing sssd, realmd, Kerberos client, adcli and samba-common (missing: $missing)"
  changed=true
  if command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 || return 1
    apt-get install -y -q sssd sssd-ad sssd-tools libnss-sss libpam-sss realmd krb5-user adcli \
      samba-common-bin >&2 || return 1
  elif command -v dnf >/dev/null; then
    dnf install -y sssd sssd-ad sssd-tools realmd krb5-workstation adcli samba-common-tools \
      oddjob-mkhomedir >&2 || return 1
  elif command -v yum >/dev/null; then
    yum install -y sssd sssd-ad sssd-tools realmd krb5-workstation adcli samba-common-tools \
      oddjob-mkhomedir >&2 || return 1
  elif command -v zypper >/dev/null; then
    zypper --non-interactive install sssd sssd-ad sssd-tools realmd krb5-client adcli samba-client >&2 || return 1
  else
    log "no supported package manager (apt-get, dnf, yum, zypper)"
    return 1
  fi
}

# --- preflight -------------------------------------------------------------------------------------------

# dns_server: the resolver this host asks (systemd-resolved's stub when it runs, so its per-domain routing
# applies; else the first nameserver of /etc/resolv.conf; else glibc's default).
dns_server() {
  if has_systemd && systemctl is-active --quiet systemd-resolved; then
    echo 127.0.0.53
    return 0
  fi
  local server
  server=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2>/dev/null) || server=""
  echo "${server:-127.0.0.1}"
}

# read_name OFFSET: the DNS name at OFFSET of the answer in `answer` (compression pointers followed) into
# `name_read`. Returns 1 on a malformed answer.
name_read=""
read_name() {
  local p=$1 n=${#answer[@]} len jumps=0 i hex char out=""
  while :; do
    [ "$p" -lt "$n" ] || return 1
    len=${answer[p]}
    [ "$len" -ne 0 ] || break
    if [ $((len & 192)) -eq 192 ]; then
      [ $((p + 1)) -lt "$n" ] && [ "$jumps" -lt 16 ] || return 1
      jumps=$((jumps + 1))
      p=$(((len & 63) * 256 + answer[p + 1]))
      continue
    fi
    [ $((p + len)) -lt "$n" ] || return 1
    for ((i = 1; i <= len; i++)); do
      printf -v hex '%02x' "${answer[p + i]}"
      # shellcheck disable=SC2059 # a \xHH escape made of the byte's own hex digits
      printf -v char "\\x$hex"
      out+=$char
    done
    out+=.
    p=$((p + len + 1))
  done
  name_read=${out%.}
}

# skip_name OFFSET: the offset just past the DNS name at OFFSET, in `skipped_to`.
skipped_to=0
skip_name() {
  local p=$1 n=${#answer[@]}
  while [ "$p" -lt "$n" ] && [ "${answer[p]}" -ne 0 ]; do
    if [ $((answer[p] & 192)) -eq 192 ]; then
      skipped_to=$((p + 2))
      return 0
    fi
    p=$((p + answer[p] + 1))
  done
  [ "$p" -lt "$n" ] || return 1
  skipped_to=$((p + 1))
}

# dns_query NAME SERVER EDNS: asks SERVER (UDP 53, two tries) for the SRV records of NAME, with an EDNS(0)
# record offering 4096-byte answers when EDNS is true (many DCs overflow the classic 512 bytes). The answer's
# bytes go to `answer`. Returns 1 when no answer came.
answer=()
dns_query() {
  local name=$1 server=$2 edns=$3 id query label fd bytes try arcount=0
  local -a labels
  [ "$edns" != true ] || arcount=1
  id=$((RANDOM % 65536))
  printf -v query '\\x%02x\\x%02x\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x%02x' $((id >> 8)) $((id & 255)) "$arcount"
  IFS=. read -r -a labels <<<"$name"
  for label in "${labels[@]}"; do
    printf -v query '%s\\x%02x%s' "$query" "${#label}" "$label"
  done
  query+='\x00\x00\x21\x00\x01'
  # The OPT record: root name, type 41, UDP payload 4096, no extended flags, no options.
  [ "$edns" != true ] || query+='\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00'
  for try in 1 2; do
    bytes=""
    if exec {fd}<>"/dev/udp/$server/53"; then
      # One write, so one datagram: bash's printf flushes at every newline byte (an id or a label length of
      # 10), and dd (fullblock) gathers the pieces. The query is a printf format of \x escapes, built above.
      # shellcheck disable=SC2059
      if printf "$query" | dd bs=4096 count=1 iflag=fullblock status=none >&"$fd"; then
        bytes=$(timeout "$PROBE_SECONDS" dd bs=65536 count=1 status=none <&"$fd" | od -An -v -tu1) || bytes=""
      fi
      exec {fd}>&-
    fi
    # shellcheck disable=SC2206 # od's decimal bytes, split on blanks (globbing is off)
    answer=($bytes)
    if [ "${#answer[@]}" -ge 12 ] && [ "${answer[0]}" -eq $((id >> 8)) ] && [ "${answer[1]}" -eq $((id & 255)) ]; then
      return 0
    fi
    answer=()
    [ "$try" -eq 2 ] || log "no answer from $server for $name; asking again"
  done
  return 1
}

# srv_lookup NAME SERVER: the targets of NAME's SRV records, best priority first, in `srv_targets`.
# Returns 0 found, 1 the name has no SRV record (NXDOMAIN or no data), 2 no usable answer (the reason in
# `dns_error`).
srv_targets=()
dns_error=""
srv_lookup() {
  local name=$1 server=$2 rcode count p type rdlength records=()
  srv_targets=()
  dns_error="the DNS server $server did not answer"
  dns_query "$name" "$server" true || return 2
  rcode=$((answer[3] & 15))
  if [ "$rcode" -eq 1 ] || [ "$rcode" -eq 4 ]; then
    # FORMERR or NOTIMP: a server that does not know EDNS; ask the classic way.
    dns_query "$name" "$server" false || return 2
  fi
  rcode=$((answer[3] & 15))
  [ "$rcode" -ne 3 ] || return 1
  if [ "$rcode" -ne 0 ]; then
    dns_error="the DNS server $server answered with error code $rcode"
    return 2
  fi
  dns_error="the DNS server $server sent a malformed answer"
  count=$((answer[6] * 256 + answer[7]))
  skip_name 12 || return 2
  p=$((skipped_to + 4))
  while [ "$count" -gt 0 ]; do
    count=$((count - 1))
    skip_name "$p" || return 2
    p=$skipped_to
    [ $((p + 10)) -le "${#answer[@]}" ] || return 2
    type=$((answer[p] * 256 + answer[p + 1]))
    rdlength=$((answer[p + 8] * 256 + answer[p + 9]))
    p=$((p + 10))
    [ $((p + rdlength)) -le "${#answer[@]}" ] || return 2
    if [ "$type" -eq 33 ] && [ "$rdlength" -ge 7 ]; then
      read_name $((p + 6)) || return 2
      if [[ $name_read =~ $HOSTNAME_RE ]]; then
        records+=("$(printf '%05d %s' $((answer[p] * 256 + answer[p + 1])) "$name_read")")
      fi
    fi
    p=$((p + rdlength))
  done
  if [ "${#records[@]}" -eq 0 ] && [ $((answer[2] & 2)) -ne 0 ]; then
    dns_error="the DNS server $server sent a truncated answer without records"
    return 2
  fi
  [ "${#records[@]}" -gt 0 ] || return 1
  mapfile -t srv_targets < <(printf '%s\n' "${records[@]}" | sort -n | awk '{ print $2 }')
}

# preflight_problem CHECK CODE REASON: why the preflight failed (its caller then returns 1).
preflight_check=""
preflight_code=0
preflight_reason=""
preflight_problem() {
  preflight_check=$1
  preflight_code=$2
  preflight_reason=$3
}

# tcp_open HOST PORT: 0 when HOST accepts a TCP connection on PORT within PROBE_SECONDS.
tcp_open() {
  # shellcheck disable=SC2016 # the inner bash expands $1 and $2
  timeout "$PROBE_SECONDS" bash -c 'exec 3<>"/dev/tcp/$1/$2"' tcp_open "$1" "$2" 2>/dev/null
}

# dc_time HOST: the domain controller's clock (rootDSE currentTime) in seconds since the epoch.
dc_time() {
  local stamp
  # shellcheck disable=SC2016 # the inner bash expands $1 and $2
  stamp=$(timeout "$PROBE_SECONDS" bash -c 'exec 3<>"/dev/tcp/$1/389" && printf "$2" >&3 &&
    dd bs=4096 count=1 status=none <&3' dc_time "$1" "$ROOTDSE_TIME_QUERY" 2>/dev/null |
    tr -c '0-9.Z' '\n' | grep -Eo '[0-9]{14}(\.[0-9]+)?Z' | head -n 1) || return 1
  [ -n "$stamp" ] || return 1
  date -u -d "${stamp:0:4}-${stamp:4:2}-${stamp:6:2} ${stamp:8:2}:${stamp:10:2}:${stamp:12:2}" +%s
}

# preflight: what a join needs from the network. Returns 1 at the first failure, its check, exit code and
# likely cause in preflight_check, preflight_code and preflight_reason.
preflight() {
  local server record status dc="" address port dc_seconds now skew
  local ldap_record="_ldap._tcp.dc._msdcs.$domain" kerberos_record="_kerberos._tcp.$domain"
  local resolver_hint="is the Route 53 Resolver rule for $domain associated with this VPC (or DnsIpAddresses set)?"
  server=$(dns_server)
  for record in "$ldap_record" "$kerberos_record"; do
    status=0
    srv_lookup "$record" "$server" || status=$?
    case "$status" in
      0) ;;
      1)
        preflight_problem dns 15 "no SRV record $record (asked $server): $resolver_hint"
        return 1
        ;;
      *)
        preflight_problem dns 15 "$dns_error for SRV $record: check the resolver and UDP 53 to it; $resolver_hint"
        return 1
        ;;
    esac
    [ -n "$dc" ] || dc=${srv_targets[0]}
  done
  address=$(timeout "$PROBE_SECONDS" getent ahostsv4 "$dc" | awk 'NR == 1 { print $1 }') || address=""
  if [ -z "$address" ]; then
    preflight_problem dns 15 "domain controller $dc (from SRV $ldap_record) has no IPv4 address (asked $server): $resolver_hint"
    return 1
  fi
  for port in "${PREFLIGHT_PORTS[@]}"; do
    if ! tcp_open "$address" "$port"; then
      preflight_problem "port-$port" "${PORT_EXIT[$port]}" \
        "domain controller $address ($dc) does not answer on TCP $port (${PORT_PURPOSE[$port]}): check the security groups and network ACLs (docs/network.md)"
      return 1
    fi
  done
  if dc_seconds=$(dc_time "$address"); then
    now=$(date -u +%s)
    skew=$((dc_seconds - now))
    [ "$skew" -ge 0 ] || skew=$((-skew))
    if [ "$skew" -gt "$MAX_CLOCK_SKEW" ]; then
      preflight_problem clock 20 \
        "this clock is ${skew}s off the clock of domain controller $address (Kerberos allows ${MAX_CLOCK_SKEW}s): check the time service (chrony with the Amazon Time Sync Service, 169.254.169.123)"
      return 1
    fi
  else
    log "could not read the clock of $address (rootDSE currentTime); Kerberos will tell if it is off"
  fi
  log "preflight passed: $dc ($address) found through $server, TCP ${PREFLIGHT_PORTS[*]} open"
}

# run_preflight: the preflight, tried again every --retry-interval until the join's deadline (--wait-seconds:
# a DC or a network path on its way, as the join itself waits for), then the last failure ends the run.
join_deadline=0
run_preflight() {
  while ! preflight; do
    if [ "$SECONDS" -ge "$join_deadline" ]; then
      check=$preflight_check
      fail "preflight-failed" "$preflight_code" "$preflight_reason"
    fi
    log "preflight: $preflight_reason; retrying in ${retry_interval}s"
    sleep "$retry_interval"
  done
}

# Point name resolution at the domain controllers, persistently where the resolver stack allows it.
configure_dns() {
  [ -n "$dns_ips" ] || return 0
  local servers=${dns_ips//,/ } content ip
  if has_systemd && systemctl is-active --quiet systemd-resolved; then
    content=$(printf '# managed by ec2-domain-join\n[Resolve]\nDNS=%s\nDomains=~%s' "$servers" "$domain")
    write_if_changed "$RESOLVED_DROPIN" 0644 "$content" || return 1
    if [ "$wrote" = true ]; then
      systemctl restart systemd-resolved || return 1
    fi
    return 0
  fi
  content=$(
    printf '# managed by ec2-domain-join\nsearch %s\n' "$domain"
    for ip in $servers; do printf 'nameserver %s\n' "$ip"; done
  )
  if [ -L /etc/resolv.conf ]; then
    rm -f /etc/resolv.conf || return 1
  fi
  write_if_changed /etc/resolv.conf 0644 "$content" || return 1
  if [ -d /etc/NetworkManager/conf.d ]; then
    # Keep NetworkManager from rewriting resolv.conf at the next lease renewal or reboot.
    write_if_changed "$NM_DROPIN" 0644 "$(printf '# managed by ec2-domain-join\n[main]\ndns=none')" || return 1
  fi
}

configure_kerberos() {
  local realm=${domain^^}
  write_if_changed "$KRB5_CONF" 0644 "$(
    cat <<EOF
# managed by ec2-domain-join
[libdefaults]
 default_realm = $realm
 dns_lookup_realm = false
 dns_lookup_kdc = true
 rdns = false
 ticket_lifetime = 24h
 renew_lifetime = 7d
 forwardable = true

[domain_realm]
 .$domain = $realm
 $domain = $realm
EOF
  )"
}

keytab_principals() {
  [ -s "$KEYTAB" ] || return 0
  klist -k "$KEYTAB" 2>/dev/null | awk 'NR > 3 { print $2 }' | sort -u
}

# 0: joined under our name and the machine password works; 1: not joined; exits 12 on a foreign join.
already_joined() {
  local ours="${computer_name}\$@${domain^^}" principal
  local machine_principals
  machine_principals=$(keytab_principals | grep -F '$@' || true)
  [ -n "$machine_principals" ] || return 1
  for principal in $machine_principals; do
    if [ "$principal" != "$ours" ]; then
      fail "joined-elsewhere" 12 "the host keytab already holds another machine account ($principal); not touching it"
    fi
  done
  adcli testjoin --domain "$domain" >/dev/null 2>&1
}

# How long a join waits for a one-time password the account does not have yet (a resent join racing its
# prestage): far longer than a prestage takes, far shorter than --wait-seconds, so that a password that
# will never come (the account reset by someone else) fails soon and comes back as a failure event.
readonly PASSWORD_WAIT_SECONDS=60

join_domain() {
  local deadline=$join_deadline output kind password_since="" password_window
  password_window=$((wait_seconds < PASSWORD_WAIT_SECONDS ? wait_seconds : PASSWORD_WAIT_SECONDS))
  while :; do
    if output=$(printf '%s' "$otp" | adcli join --domain "$domain" --computer-name "$computer_name" \
      --host-fqdn "${computer_name,,}.$domain" --login-type computer --stdin-password 2>&1); then
      changed=true
      return 0
    fi
    case "$output" in
      *"not found in Kerberos database"*) kind="account-missing" ;;
      # The account exists but still has an earlier password: a resent join can start before the prestage
      # sent with it has reset the account, so this is waited for like a missing account.
      *"Preauthentication failed"* | *"Password incorrect"*) kind="password-not-yet-set" ;;
      *"Cannot contact any KDC"* | *"domain controller"* | *"resolve"* | *"Connection refused"* | *"timed out"*) kind="unreachable" ;;
      *) kind="rejected" ;;
    esac
    log "adcli join: ${output//$otp/<redacted>}"
    if [ "$kind" = "rejected" ]; then
      fail "join-rejected" 8 "the domain rejected the join with the one-time password"
    fi
    if [ "$kind" = "password-not-yet-set" ]; then
      password_since=${password_since:-$SECONDS}
      if [ $((SECONDS - password_since)) -ge "$password_window" ] || [ "$SECONDS" -ge "$deadline" ]; then
        fail "join-rejected" 8 "the domain did not accept the one-time password within ${password_window}s"
      fi
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      if [ "$kind" = "account-missing" ]; then
        fail "account-missing" 9 "computer account $computer_name was not prestaged within ${wait_seconds}s"
      fi
      fail "dc-unreachable" 13 "no domain controller for $domain reachable within ${wait_seconds}s"
    fi
    log "$kind; retrying in ${retry_interval}s"
    sleep "$retry_interval"
  done
}

configure_sssd() {
  local access allow=""
  if [ -n "$login_group" ]; then allow=$login_group; fi
  if [ -n "$sudo_group" ] && [ "$sudo_group" != "$login_group" ]; then allow=${allow:+$allow, }$sudo_group; fi
  if [ -n "$allow" ]; then
    access=$(printf 'access_provider = simple\nsimple_allow_groups = %s' "$allow")
  else
    # No group named: nobody from the domain may log in (sssd's simple provider would allow everyone).
    access="access_provider = deny"
  fi
  write_if_changed "$SSSD_CONF" 0600 "$(
    cat <<EOF
# managed by ec2-domain-join
[sssd]
services = nss, pam
domains = $domain

[domain/$domain]
id_provider = ad
auth_provider = ad
chpass_provider = ad
$access
ad_domain = $domain
krb5_realm = ${domain^^}
krb5_keytab = $KEYTAB
ad_hostname = ${computer_name,,}.$domain
ldap_sasl_authid = ${computer_name}\$
ldap_id_mapping = true
use_fully_qualified_names = false
fallback_homedir = /home/%u
default_shell = /bin/bash
cache_credentials = false
EOF
  )" || return 1
  [ "$wrote" = true ] || return 0
  chmod 0600 "$SSSD_CONF" || return 1
  # Only drops cached entries; sssd may not be running yet, so its failure does not matter.
  if command -v sss_cache >/dev/null; then sss_cache -E >/dev/null 2>&1 || true; fi
}

configure_nss_pam() {
  if command -v authselect >/dev/null; then
    local current
    # "authselect current" fails when no profile is selected yet: then select ours.
    current=$(authselect current 2>/dev/null) || current=""
    if [[ $current != *sssd* ]]; then
      authselect select sssd with-mkhomedir --force >&2 || return 1
      changed=true
    fi
    return 0
  fi
  if command -v pam-auth-update >/dev/null; then
    if ! grep -qs 'pam_sss' /etc/pam.d/common-auth; then
      pam-auth-update --enable sss --enable mkhomedir >&2 || return 1
      changed=true
    fi
  elif command -v pam-config >/dev/null; then
    if ! grep -qs 'pam_sss' /etc/pam.d/common-auth; then
      pam-config -a --sss --mkhomedir >&2 || return 1
      changed=true
    fi
  fi
  local db
  for db in passwd group; do
    if [ -f /etc/nsswitch.conf ] && ! grep -Eq "^${db}:.*\bsss\b" /etc/nsswitch.conf; then
      sed -i -E "s/^(${db}:.*)$/\1 sss/" /etc/nsswitch.conf || return 1
      changed=true
    fi
  done
}

# Exit status: 0 done, 1 the drop-in failed validation or visudo is missing, 2 writing it failed.
configure_sudo() {
  if [ -z "$sudo_group" ]; then
    if [ -e "$SUDOERS_DROPIN" ]; then
      rm -f "$SUDOERS_DROPIN" || return 2
      changed=true
    fi
    return 0
  fi
  command -v visudo >/dev/null || return 1
  local rule tmp
  local escaped=${sudo_group//\\/\\\\}
  escaped=${escaped// /\\ }
  rule=$(printf '# managed by ec2-domain-join\n%%%s ALL=(ALL:ALL) ALL' "$escaped")
  if [ -f "$SUDOERS_DROPIN" ] && [ "$(cat "$SUDOERS_DROPIN")" = "$rule" ]; then return 0; fi
  mkdir -p /etc/sudoers.d || return 2
  tmp=$(mktemp /etc/sudoers.d/.ec2-domain-join.XXXXXX) || return 2
  if ! printf '%s\n' "$rule" >"$tmp" || ! chmod 0440 "$tmp"; then
    rm -f "$tmp" || true
    return 2
  fi
  if ! visudo -cqf "$tmp" >&2; then
    rm -f "$tmp" || true
    return 1
  fi
  mv -f "$tmp" "$SUDOERS_DROPIN" || { rm -f "$tmp" || true; return 2; }
  changed=true
}

restart_sssd() {
  if has_systemd; then
    systemctl enable sssd >/dev/null 2>&1 || log "could not enable sssd at boot"
    systemctl restart sssd || return 1
  else
    log "no systemd: sssd not restarted"
  fi
}

main() {
  parse_args "$@"
  validate_args
  if [ -z "$instance_id" ]; then
    instance_id=$(imds meta-data/instance-id) || fail "no-instance-id" 5 "could not read the instance id from IMDSv2"
    [[ $instance_id =~ $INSTANCE_ID_RE ]] || { instance_id=""; fail "no-instance-id" 5 "IMDSv2 returned no instance id"; }
  fi
  select_entry
  if [ "$dry_run" = true ]; then
    result "dry-run" 0 "arguments valid; entry found"
  fi
  [ "$(id -u)" -eq 0 ] || fail "not-root" 3 "must run as root"

  # Each step is checked here: a function called under `||` runs without `set -e`, so every step in it
  # reports its own failure through its return status.
  if [ "$install_allowed" = true ]; then
    install_packages || fail "packages-failed" 6 "installing the AD client packages failed"
  else
    local missing
    missing=$(missing_packages) || fail "packages-missing" 14 "could not check the AD client packages"
    [ -z "$missing" ] || fail "packages-missing" 14 \
      "installing is off and these packages are missing: $missing (bake them into the AMI)"
  fi
  configure_dns || fail "dns-failed" 7 "configuring the DNS resolver failed"
  configure_kerberos || fail "config-failed" 10 "writing $KRB5_CONF failed"

  local status="already-joined" sudo_status=0
  if ! already_joined; then
    # One deadline for the preflight and the join: --wait-seconds in all.
    join_deadline=$((SECONDS + wait_seconds))
    run_preflight
    unseal_otp
    join_domain
    status="joined"
  fi

  configure_sssd || fail "config-failed" 10 "writing $SSSD_CONF failed"
  configure_nss_pam || fail "config-failed" 10 "configuring NSS/PAM for sssd failed"
  configure_sudo || sudo_status=$?
  case "$sudo_status" in
    0) ;;
    1) fail "sudo-failed" 11 "the sudoers drop-in for $sudo_group failed validation" ;;
    *) fail "config-failed" 10 "writing $SUDOERS_DROPIN failed" ;;
  esac
  if [ "$changed" = true ]; then
    restart_sssd || fail "config-failed" 10 "restarting sssd failed"
  fi
  result "$status" 0 "$([ "$status" = joined ] && echo "joined $domain as $computer_name" || echo "already joined")"
}

main "$@"
