#!/usr/bin/env bash
# ec2-domain-join: join this Linux instance to Active Directory with the one-time password of the
# computer account that the AD tools host prestaged for it (Linux step of the DomainJoin-Join document).
#
# Usage (as root):
#   domain-join.sh --domain DOMAIN [--dns-ips IP[,IP...]] [--login-group GROUP] [--sudo-group GROUP]
#                  [--instance-id ID] [--skip-packages] [--wait-seconds N] [--retry-interval N] [--dry-run]
#
# The computer list comes in the environment variable DOMAIN_JOIN_COMPUTERS, never in argv:
#   "INSTANCEID=COMPUTERNAME=OTP INSTANCEID=COMPUTERNAME=OTP ..."
# This instance picks the entry of its own instance id (IMDSv2, unless --instance-id is given).
# An empty option value means "not given". The one-time password (OTP) is handed to adcli on stdin only.
#
# Output: one line `DOMAIN_JOIN_RESULT {json}` on stdout; diagnostics on stderr. Neither ever holds the OTP.
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

domain=""
dns_ips=""
login_group=""
sudo_group=""
instance_id=""
skip_packages=false
wait_seconds=600
retry_interval=10
dry_run=false

computer_name=""
changed=false

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
  printf '%s {"status":%s,"exitCode":%d,"changed":%s,"instanceId":%s,"computerName":%s,"domain":%s,"message":%s}\n' \
    "$RESULT_TAG" "$(json_string "$status")" "$code" "$changed" "$(json_string "$instance_id")" \
    "$(json_string "$computer_name")" "$(json_string "$domain")" "$(json_string "$message")"
  exit "$code"
}

fail() { log "$3"; result "$1" "$2" "$3"; }

usage_error() { fail "invalid-arguments" 2 "$1"; }

parse_args() {
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --domain | --dns-ips | --login-group | --sudo-group | --instance-id | --wait-seconds | --retry-interval)
        [ "$#" -ge 2 ] || usage_error "option $1 needs a value"
        case "$1" in
          --domain) domain=$2 ;;
          --dns-ips) dns_ips=$2 ;;
          --login-group) login_group=$2 ;;
          --sudo-group) sudo_group=$2 ;;
          --instance-id) instance_id=$2 ;;
          --wait-seconds) wait_seconds=$2 ;;
          --retry-interval) retry_interval=$2 ;;
        esac
        shift 2
        ;;
      --skip-packages) skip_packages=true; shift ;;
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
  login_group=$(short_name "$login_group")
  sudo_group=$(short_name "$sudo_group")
}

imds_instance_id() {
  local token
  token=$(curl -fsS --max-time 3 --retry 3 -X PUT "$IMDS/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 60") || return 1
  curl -fsS --max-time 3 --retry 3 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/instance-id"
}

# valid_entry ENTRY: INSTANCEID=COMPUTERNAME=OTP.
valid_entry() {
  local id=${1%%=*} rest=${1#*=}
  local name=${rest%%=*} otp=${rest#*=}
  [ "$rest" != "$1" ] && [ "$otp" != "$rest" ] && [[ $id =~ $INSTANCE_ID_RE ]] &&
    [[ $name =~ $COMPUTER_NAME_RE ]] && [[ $otp =~ $OTP_RE ]]
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

install_packages() {
  if command -v adcli >/dev/null && command -v sssd >/dev/null && command -v kinit >/dev/null; then
    return 0
  fi
  log "installing sssd, realmd, Kerberos client, adcli and samba-common"
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

join_domain() {
  local deadline=$((SECONDS + wait_seconds)) output kind
  while :; do
    if output=$(printf '%s' "$otp" | adcli join --domain "$domain" --computer-name "$computer_name" \
      --host-fqdn "${computer_name,,}.$domain" --login-type computer --stdin-password 2>&1); then
      changed=true
      return 0
    fi
    case "$output" in
      *"not found in Kerberos database"*) kind="account-missing" ;;
      *"Cannot contact any KDC"* | *"domain controller"* | *"resolve"* | *"Connection refused"* | *"timed out"*) kind="unreachable" ;;
      *) kind="rejected" ;;
    esac
    log "adcli join: ${output//$otp/<redacted>}"
    if [ "$kind" = "rejected" ]; then
      fail "join-rejected" 8 "the domain rejected the join with the one-time password"
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
    instance_id=$(imds_instance_id) || fail "no-instance-id" 5 "could not read the instance id from IMDSv2"
    [[ $instance_id =~ $INSTANCE_ID_RE ]] || { instance_id=""; fail "no-instance-id" 5 "IMDSv2 returned no instance id"; }
  fi
  select_entry
  if [ "$dry_run" = true ]; then
    result "dry-run" 0 "arguments valid; entry found"
  fi
  [ "$(id -u)" -eq 0 ] || fail "not-root" 3 "must run as root"

  # Each step is checked here: a function called under `||` runs without `set -e`, so every step in it
  # reports its own failure through its return status.
  if [ "$skip_packages" != true ]; then
    install_packages || fail "packages-failed" 6 "installing the AD client packages failed"
  fi
  configure_dns || fail "dns-failed" 7 "configuring the DNS resolver failed"
  configure_kerberos || fail "config-failed" 10 "writing $KRB5_CONF failed"

  local status="already-joined" sudo_status=0
  if ! already_joined; then
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
