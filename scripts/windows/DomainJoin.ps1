<#
ec2-domain-join: join this Windows instance to Active Directory with the one-time password of the computer
account that the AD tools host prestaged for it (Windows step of the DomainJoin-Join document).

Usage (as SYSTEM / Administrator):
  DomainJoin.ps1 -DomainName DOMAIN [-DnsIpAddresses IP[,IP...]] [-LoginGroup GROUP] [-InstallRdsRole true|false]
                 [-InstanceId ID] [-WaitSeconds N] [-RetryIntervalSeconds N]

The computer list comes in the environment variable DOMAIN_JOIN_COMPUTERS, never in argv:
  "INSTANCEID=COMPUTERNAME=OTP INSTANCEID=COMPUTERNAME=OTP ..."
This instance picks the entry of its own instance id (IMDSv2, unless -InstanceId is given), then renames itself
to the prestaged name and joins with the one-time password only (unsecured join, no domain credential).
Every run is idempotent; SSM Agent reruns it after each reboot it asks for (exit 3010), and each run does the
next missing step: join (+ rename), then Remote Desktop Users membership, then the RDS-RD-Server role.

Output: one line `DOMAIN_JOIN_RESULT {json}`; never the one-time password.
Exit codes:
  0     joined and configured (or already so; nothing changed)
  2     invalid parameter value
  4     no valid entry for this instance in DOMAIN_JOIN_COMPUTERS
  5     instance id unavailable (IMDSv2 did not answer)
  7     DNS client configuration failed
  8     the join failed (wrong or expired one-time password, or another AD error)
  9     the prestaged computer account was not usable before -WaitSeconds ran out
  10    adding the login group to Remote Desktop Users, or installing RDS-RD-Server, failed
  12    already joined to another domain or under another name (left untouched)
  3010  reboot needed: SSM Agent reboots the instance and runs this script again
#>
param(
    [Parameter(Mandatory = $true)][string]$DomainName,
    [string]$DnsIpAddresses = "",
    [string]$LoginGroup = "",
    [string]$InstallRdsRole = "false",
    [string]$InstanceId = "",
    [int]$WaitSeconds = 600,
    [int]$RetryIntervalSeconds = 15
)

$ErrorActionPreference = "Stop"
$script:ComputerName = ""
$script:Changed = $false

function Write-Result([string]$Status, [int]$Code, [string]$Message) {
    $line = [ordered]@{
        status       = $Status
        exitCode     = $Code
        changed      = $script:Changed
        instanceId   = $InstanceId
        computerName = $script:ComputerName
        domain       = $DomainName
        message      = $Message
    } | ConvertTo-Json -Compress
    Write-Output "DOMAIN_JOIN_RESULT $line"
    exit $Code
}

function Get-ImdsInstanceId {
    $token = Invoke-RestMethod -Method Put -Uri "http://169.254.169.254/latest/api/token" `
        -Headers @{ "X-aws-ec2-metadata-token-ttl-seconds" = "60" } -TimeoutSec 5
    return Invoke-RestMethod -Uri "http://169.254.169.254/latest/meta-data/instance-id" `
        -Headers @{ "X-aws-ec2-metadata-token" = $token } -TimeoutSec 5
}

# --- validate --------------------------------------------------------------------------------------------
if ($DomainName -notmatch '^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$') {
    Write-Result "invalid-arguments" 2 "DomainName is not a DNS domain name"
}
$dnsServers = @()
if ($DnsIpAddresses -ne "") {
    $dnsServers = $DnsIpAddresses.Split(",")
    foreach ($ip in $dnsServers) {
        $parsed = $null
        if (-not [System.Net.IPAddress]::TryParse($ip, [ref]$parsed) -or $ip -notmatch '^\d{1,3}(\.\d{1,3}){3}$') {
            Write-Result "invalid-arguments" 2 "DnsIpAddresses must be comma-separated IPv4 addresses"
        }
    }
}
if ($LoginGroup -ne "" -and $LoginGroup -notmatch '^[A-Za-z0-9][A-Za-z0-9 ._@\\-]{0,255}$') {
    Write-Result "invalid-arguments" 2 "LoginGroup has invalid characters"
}
if ($InstallRdsRole -notin @("true", "false")) {
    Write-Result "invalid-arguments" 2 "InstallRdsRole must be true or false"
}

if ($InstanceId -eq "") {
    try { $InstanceId = Get-ImdsInstanceId } catch { Write-Result "no-instance-id" 5 "could not read the instance id from IMDSv2" }
}
if ($InstanceId -notmatch '^i-[0-9a-f]{8,17}$') {
    Write-Result "no-instance-id" 5 "no valid instance id"
}

# --- pick this instance's entry -------------------------------------------------------------------------------
$otp = ""
foreach ($entry in ("$env:DOMAIN_JOIN_COMPUTERS" -split '\s+')) {
    $fields = $entry.Split("=")
    if ($fields.Count -eq 3 -and $fields[0] -eq $InstanceId) {
        $script:ComputerName = $fields[1]
        $otp = $fields[2]
    }
}
if ($script:ComputerName -eq "") {
    Write-Result "no-entry" 4 "no entry for $InstanceId in DOMAIN_JOIN_COMPUTERS"
}
if ($script:ComputerName -cnotmatch '^[A-Z][A-Z0-9-]{0,14}$' -or $otp -cnotmatch '^[A-Za-z0-9]{24,128}$') {
    Write-Result "invalid-entry" 4 "the entry for this instance is malformed"
}

# --- DNS ------------------------------------------------------------------------------------------------------
if ($dnsServers.Count -gt 0) {
    try {
        foreach ($adapter in (Get-NetAdapter | Where-Object { $_.Status -eq "Up" })) {
            $current = (Get-DnsClientServerAddress -InterfaceIndex $adapter.ifIndex -AddressFamily IPv4).ServerAddresses
            if (($current -join ",") -ne ($dnsServers -join ",")) {
                Set-DnsClientServerAddress -InterfaceIndex $adapter.ifIndex -ServerAddresses $dnsServers
                $script:Changed = $true
            }
        }
    } catch {
        Write-Result "dns-failed" 7 "configuring the DNS client failed: $($_.Exception.Message)"
    }
}

# --- join (and rename) ----------------------------------------------------------------------------------------
$system = Get-CimInstance -ClassName Win32_ComputerSystem
if ($system.PartOfDomain) {
    if ($system.Domain -ne $DomainName -or $env:COMPUTERNAME -ne $script:ComputerName) {
        Write-Result "joined-elsewhere" 12 "already a member of $($system.Domain) as $env:COMPUTERNAME; not touching it"
    }
} else {
    # Unsecured join: the prestaged account's one-time password is the only secret; no user name is given.
    $secret = ConvertTo-SecureString -String $otp -AsPlainText -Force
    $joinCredential = New-Object System.Management.Automation.PSCredential -ArgumentList (
        [PSCustomObject]@{ UserName = $null; Password = $secret })
    $options = "UnsecuredJoin,PasswordPass"
    $deadline = (Get-Date).AddSeconds($WaitSeconds)
    while ($true) {
        try {
            if ($env:COMPUTERNAME -ne $script:ComputerName) {
                Add-Computer -DomainName $DomainName -Credential $joinCredential -NewName $script:ComputerName `
                    -Options "$options,JoinWithNewName" -Force
            } else {
                Add-Computer -DomainName $DomainName -Credential $joinCredential -Options $options -Force
            }
            $script:Changed = $true
            Write-Result "joined-reboot" 3010 "joined $DomainName as $($script:ComputerName); rebooting"
        } catch {
            $reason = $_.Exception.Message.Replace($otp, "<redacted>")
            Write-Warning "join failed: $reason"
            if ((Get-Date) -ge $deadline) {
                if ($reason -match "does not exist|not found|no such") {
                    Write-Result "account-missing" 9 "computer account $($script:ComputerName) not usable within ${WaitSeconds}s"
                }
                Write-Result "join-failed" 8 "the join failed: $reason"
            }
            Start-Sleep -Seconds $RetryIntervalSeconds
        }
    }
}

# --- after the join reboot: Remote Desktop Users, then the RDS role ----------------------------------------
try {
    if ($LoginGroup -ne "") {
        $rdpUsers = Get-LocalGroup -SID "S-1-5-32-555"
        # NETBIOS\name and name@domain are taken as given; a plain name is looked up in the joined domain.
        $member = $LoginGroup
        if ($LoginGroup -notmatch '[\\@]') { $member = "$DomainName\$LoginGroup" }
        $shortName = ($LoginGroup -split '[\\@]')[0]
        if ($LoginGroup -match '\\') { $shortName = ($LoginGroup -split '\\')[1] }
        $present = Get-LocalGroupMember -Group $rdpUsers | Where-Object { $_.Name -like "*\$shortName" }
        if (-not $present) {
            Add-LocalGroupMember -Group $rdpUsers -Member $member
            $script:Changed = $true
        }
    }
    if ($InstallRdsRole -eq "true") {
        $feature = Get-WindowsFeature -Name "RDS-RD-Server"
        if (-not $feature.Installed) {
            $install = Install-WindowsFeature -Name "RDS-RD-Server"
            $script:Changed = $true
            if ($install.RestartNeeded -eq "Yes") {
                Write-Result "rds-reboot" 3010 "RDS-RD-Server installed; rebooting"
            }
        }
    }
} catch {
    Write-Result "config-failed" 10 "configuring Remote Desktop access failed: $($_.Exception.Message)"
}

if ($script:Changed) {
    Write-Result "configured" 0 "joined $DomainName as $($script:ComputerName)"
}
Write-Result "already-joined" 0 "already joined; nothing changed"
