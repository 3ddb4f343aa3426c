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
#   4  no valid entry for this instance in DOMAIN_JOIN_COMPUTERS
#   5  instance id unavailable (IMDSv2 did not answer)
#   6  package installation failed
#   7  DNS resolver configuration failed
#   8  the domain rejected the join (wrong or expired one-time password, or another AD error)
#   9  the prestaged computer account did not appear before --wait-seconds ran out
#   10 sssd / Kerberos / NSS / PAM configuration failed
#   11 the sudoers drop-in failed validation (visudo -c) or visudo is missing
#   12 already joined to another domain or under another computer name (left untouched)
#   13 no domain controller reachable before --wait-seconds ran out
set -euo pipefail
set -f  # no globbing: the computer list is split on blanks, and an entry must never expand to file names
umask 077

readonly RESULT_TAG="DOMAIN_JOIN_RESULT"
readonly COMPUTERS_ENV="DOMAIN_JOIN_COMPUTERS"
readonly KEYTAB="/etc/krb5.keytab"
readonly KRB5_CONF="/etc/krb5.conf"
readonly SSSD_CONF="/etc/sssd/sssd.conf"
readonly SUDOERS_DROPIN="/etc/sudoers.d/ec2-domain-join"
readonly RESOLVED_DROPIN="/etc/systemd/resolved.conf.d/ec2-domain-join.conf"
readonly NM_DROPIN="/etc/NetworkManager/conf.d/ec2-domain-join.conf"
readonly IMDS="http://169.254.169.254"

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

json_string() {
  # Values are validated to plain characters before they get here; escape anyway so the line stays JSON.
  local value=${1//\\/\\\\}
  value=${value//\"/\\\"}
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

validate_args() {
  local domain_re='^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$'
  # Plain names, NETBIOS\name or name@domain, as the document's allowedPattern admits.
  local group_re='^[A-Za-z0-9][A-Za-z0-9 ._@\\-]{0,255}$'
  local ipv4_re='^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$'
  [ -n "$domain" ] || usage_error "--domain is required"
  [[ $domain =~ $domain_re ]] || usage_error "--domain is not a DNS domain name"
  domain=${domain,,}
  if [ -n "$dns_ips" ]; then
    local ip
    IFS=',' read -r -a ips <<<"$dns_ips"
    for ip in "${ips[@]}"; do
      [[ $ip =~ $ipv4_re ]] || usage_error "--dns-ips must be comma-separated IPv4 addresses"
    done
  fi
  [ -z "$login_group" ] || [[ $login_group =~ $group_re ]] || usage_error "--login-group has invalid characters"
  [ -z "$sudo_group" ] || [[ $sudo_group =~ $group_re ]] || usage_error "--sudo-group has invalid characters"
  [ -z "$instance_id" ] || [[ $instance_id =~ ^i-[0-9a-f]{8,17}$ ]] || usage_error "--instance-id is not an instance id"
  [[ $wait_seconds =~ ^[0-9]{1,6}$ ]] || usage_error "--wait-seconds must be a whole number of seconds"
  [[ $retry_interval =~ ^[1-9][0-9]{0,3}$ ]] || usage_error "--retry-interval must be a positive whole number"
}

imds_instance_id() {
  local token
  token=$(curl -fsS --max-time 3 --retry 3 -X PUT "$IMDS/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 60") || return 1
  curl -fsS --max-time 3 --retry 3 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/instance-id"
}

# Sets computer_name and otp from this instance's entry of the computer list.
otp=""
select_entry() {
  local entry rest
  for entry in ${!COMPUTERS_ENV:-}; do
    [ "${entry%%=*}" = "$instance_id" ] || continue
    rest=${entry#*=}
    computer_name=${rest%%=*}
    otp=${rest#*=}
    if ! [[ $computer_name =~ ^[A-Z][A-Z0-9-]{0,14}$ ]]; then
      computer_name=""
      fail "invalid-entry" 4 "the entry for this instance has an invalid computer name"
    fi
    if ! [[ $otp =~ ^[A-Za-z0-9]{24,128}$ && $otp =~ [A-Z] && $otp =~ [a-z] && $otp =~ [0-9] ]]; then
      fail "invalid-entry" 4 "the entry for this instance has a malformed one-time password"
    fi
    return 0
  done
  fail "no-entry" 4 "no entry for $instance_id in $COMPUTERS_ENV"
}

has_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

# write_if_changed PATH MODE CONTENT: replace PATH atomically when its content differs; sets changed=true.
write_if_changed() {
  local path=$1 mode=$2 content=$3 tmp
  if [ -f "$path" ] && [ ! -L "$path" ] && [ "$(cat "$path")" = "$content" ]; then
    return 1
  fi
  mkdir -p "$(dirname "$path")"
  tmp=$(mktemp "$path.XXXXXX")
  printf '%s\n' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  changed=true
  return 0
}

install_packages() {
  if command -v adcli >/dev/null && command -v sssd >/dev/null && command -v kinit >/dev/null; then
    return 0
  fi
  log "installing sssd, realmd, Kerberos client, adcli and samba-common"
  changed=true
  if command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 && apt-get install -y -q sssd sssd-ad sssd-tools libnss-sss libpam-sss realmd \
      krb5-user adcli samba-common-bin >&2
  elif command -v dnf >/dev/null; then
    dnf install -y sssd sssd-ad sssd-tools realmd krb5-workstation adcli samba-common-tools oddjob-mkhomedir >&2
  elif command -v yum >/dev/null; then
    yum install -y sssd sssd-ad sssd-tools realmd krb5-workstation adcli samba-common-tools oddjob-mkhomedir >&2
  elif command -v zypper >/dev/null; then
    zypper --non-interactive install sssd sssd-ad sssd-tools realmd krb5-client adcli samba-client >&2
  else
    return 1
  fi
}

# Point name resolution at the domain controllers, persistently where the resolver stack allows it.
configure_dns() {
  [ -n "$dns_ips" ] || return 0
  local servers=${dns_ips//,/ } content ip
  if has_systemd && systemctl is-active --quiet systemd-resolved; then
    content=$(printf '# managed by ec2-domain-join\n[Resolve]\nDNS=%s\nDomains=~%s' "$servers" "$domain")
    if write_if_changed "$RESOLVED_DROPIN" 0644 "$content"; then
      systemctl restart systemd-resolved
    fi
    return 0
  fi
  content=$(
    printf '# managed by ec2-domain-join\nsearch %s\n' "$domain"
    for ip in $servers; do printf 'nameserver %s\n' "$ip"; done
  )
  if [ -L /etc/resolv.conf ]; then rm -f /etc/resolv.conf; fi
  write_if_changed /etc/resolv.conf 0644 "$content" || true
  if [ -d /etc/NetworkManager/conf.d ]; then
    # Keep NetworkManager from rewriting resolv.conf at the next lease renewal or reboot.
    write_if_changed "$NM_DROPIN" 0644 "$(printf '# managed by ec2-domain-join\n[main]\ndns=none')" || true
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
  )" || true
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
  )" || return 0
  chmod 0600 "$SSSD_CONF"
  if command -v sss_cache >/dev/null; then sss_cache -E >/dev/null 2>&1 || true; fi
}

configure_nss_pam() {
  if command -v authselect >/dev/null; then
    if ! authselect current 2>/dev/null | grep -q 'sssd'; then
      authselect select sssd with-mkhomedir --force >&2 && changed=true
    fi
    return 0
  fi
  if command -v pam-auth-update >/dev/null; then
    if ! grep -qs 'pam_sss' /etc/pam.d/common-auth; then
      pam-auth-update --enable sss --enable mkhomedir >&2 && changed=true
    fi
  elif command -v pam-config >/dev/null; then
    if ! grep -qs 'pam_sss' /etc/pam.d/common-auth; then
      pam-config -a --sss --mkhomedir >&2 && changed=true
    fi
  fi
  local db
  for db in passwd group; do
    if [ -f /etc/nsswitch.conf ] && ! grep -Eq "^${db}:.*\bsss\b" /etc/nsswitch.conf; then
      sed -i -E "s/^(${db}:.*)$/\1 sss/" /etc/nsswitch.conf
      changed=true
    fi
  done
}

configure_sudo() {
  if [ -z "$sudo_group" ]; then
    if [ -e "$SUDOERS_DROPIN" ]; then rm -f "$SUDOERS_DROPIN" && changed=true; fi
    return 0
  fi
  command -v visudo >/dev/null || return 1
  local rule tmp
  local escaped=${sudo_group//\\/\\\\}
  escaped=${escaped// /\\ }
  rule=$(printf '# managed by ec2-domain-join\n%%%s ALL=(ALL:ALL) ALL' "$escaped")
  if [ -f "$SUDOERS_DROPIN" ] && [ "$(cat "$SUDOERS_DROPIN")" = "$rule" ]; then return 0; fi
  mkdir -p /etc/sudoers.d
  tmp=$(mktemp /etc/sudoers.d/.ec2-domain-join.XXXXXX)
  printf '%s\n' "$rule" >"$tmp"
  chmod 0440 "$tmp"
  if ! visudo -cqf "$tmp" >&2; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$SUDOERS_DROPIN"
  changed=true
}

restart_sssd() {
  if has_systemd; then
    systemctl enable sssd >/dev/null 2>&1 || true
    systemctl restart sssd
  else
    log "no systemd: sssd not restarted"
  fi
}

main() {
  parse_args "$@"
  validate_args
  if [ -z "$instance_id" ]; then
    instance_id=$(imds_instance_id) || fail "no-instance-id" 5 "could not read the instance id from IMDSv2"
    [[ $instance_id =~ ^i-[0-9a-f]{8,17}$ ]] || fail "no-instance-id" 5 "IMDSv2 returned no instance id"
  fi
  select_entry
  if [ "$dry_run" = true ]; then
    result "dry-run" 0 "arguments valid; entry found"
  fi
  [ "$(id -u)" -eq 0 ] || fail "not-root" 3 "must run as root"

  if [ "$skip_packages" != true ]; then
    install_packages || fail "packages-failed" 6 "installing the AD client packages failed"
  fi
  configure_dns || fail "dns-failed" 7 "configuring the DNS resolver failed"
  configure_kerberos || fail "config-failed" 10 "writing $KRB5_CONF failed"

  local status="already-joined"
  if ! already_joined; then
    join_domain
    status="joined"
  fi

  configure_sssd || fail "config-failed" 10 "writing $SSSD_CONF failed"
  configure_nss_pam || fail "config-failed" 10 "configuring NSS/PAM for sssd failed"
  configure_sudo || fail "sudo-failed" 11 "the sudoers drop-in for $sudo_group failed validation"
  if [ "$changed" = true ]; then
    restart_sssd || fail "config-failed" 10 "restarting sssd failed"
  fi
  result "$status" 0 "$([ "$status" = joined ] && echo "joined $domain as $computer_name" || echo "already joined")"
}

main "$@"
