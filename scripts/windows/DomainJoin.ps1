<#
ec2-domain-join: join this Windows instance to Active Directory with the one-time password of the computer
account that the AD tools host prestaged for it (Windows step of the DomainJoin-Join document).

Usage (as SYSTEM / Administrator):
  DomainJoin.ps1 -DomainName DOMAIN [-DnsIpAddresses IP[,IP...]] [-LoginGroup GROUP] [-InstallRdsRole true|false]
                 [-InstanceId ID] [-WaitSeconds N] [-RetryIntervalSeconds N] [-SealingKeyArn KMS_KEY_ARN]

The computer list comes in the environment variable DOMAIN_JOIN_COMPUTERS, never in argv:
  "INSTANCEID=COMPUTERNAME=OTP INSTANCEID=COMPUTERNAME=OTP ..."
This instance picks the entry of its own instance id (IMDSv2, unless -InstanceId is given), then renames itself
to the prestaged name and joins with the one-time password only (unsecured join, no domain credential).
Every run is idempotent; SSM Agent reruns it after each reboot it asks for (exit 3010), and each run does the
next missing step: join (+ rename), then Remote Desktop Users membership, then the RDS-RD-Server role.
-SealingKeyArn: the passwords are sealed; this instance opens its own (docs/scripts.md "Sealed one-time passwords").

Preflight, before a join, as in domain-join.sh (docs/scripts.md "Preflight"): SRV records, the DC's TCP 88,
389, 445 and 464, its clock within 300 s; retried every -RetryIntervalSeconds until -WaitSeconds, then named
in the result line's "check" field ("" otherwise).

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
  15    preflight "dns": an SRV record of the domain does not resolve (or its DC name has no address)
  16    preflight "port-88": the domain controller does not answer on TCP 88 (Kerberos)
  17    preflight "port-389": the domain controller does not answer on TCP 389 (LDAP)
  18    preflight "port-445": the domain controller does not answer on TCP 445 (SMB)
  19    preflight "port-464": the domain controller does not answer on TCP 464 (Kerberos password change)
  20    preflight "clock": this clock is more than 300 s off the domain controller's
  21    the sealed one-time password could not be opened
  3010  reboot needed: SSM Agent reboots the instance and runs this script again

Input checks: the shared formats of handlers/domain_join/patterns.py (the *Pattern literals below, used with
the case-sensitive -cmatch; tests/scripts/test_patterns.py checks them against the shared corpus). The
computer list: 1-50 entries joined by single spaces, each INSTANCEID=COMPUTERNAME=OTP, every entry
well-formed. One function per step; Invoke-DomainJoin runs them in order.
#>
param(
    [Parameter(Mandatory = $true)][string]$DomainName,
    [string]$DnsIpAddresses = "",
    [string]$LoginGroup = "",
    [string]$InstallRdsRole = "false",
    [string]$InstanceId = "",
    [int]$WaitSeconds = 600,
    [int]$RetryIntervalSeconds = 15,
    [string]$SealingKeyArn = ""
)

Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"
$script:ComputerName = ""
$script:Otp = ""
$script:Changed = $false
$script:Check = ""
$script:Deadline = $null
$MaxComputers = 50
# The preflight's TCP ports (what each is for, and its exit code), the bound of each probe, Kerberos' tolerance.
$PreflightPorts = [ordered]@{ 88 = "Kerberos"; 389 = "LDAP"; 445 = "SMB"; 464 = "Kerberos password change" }
$PreflightExit = @{ 88 = 16; 389 = 17; 445 = 18; 464 = 19 }
$ProbeMilliseconds = 3000
$MaxClockSkewSeconds = 300
# The shared formats (handlers/domain_join/patterns.py) in .NET syntax; "\z" is the end of the value (.NET's
# "$" also matches before a final newline).
$DomainPattern = '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\z'
$GroupPattern = '^([A-Za-z0-9][A-Za-z0-9-]{0,14}\\)?[A-Za-z0-9]([A-Za-z0-9 ._-]{0,254}[A-Za-z0-9._-])?(@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)?\z'
$Ipv4ListPattern = '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}(,(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}){0,7}\z'
$BooleanPattern = '^(true|false)\z'
$InstanceIdPattern = '^i-[0-9a-f]{8,17}\z'
$ComputerNamePattern = '^[A-Z][A-Z0-9-]{0,14}\z'
$OtpPattern = '^[A-Za-z0-9]{24,128}\z'
$SecretFormat = $OtpPattern
if ($SealingKeyArn -ne "") { $SecretFormat = '^[A-Za-z0-9+/]{64,}\z' }

function Write-Result([string]$Status, [int]$Code, [string]$Message) {
    $line = [ordered]@{
        status       = $Status
        exitCode     = $Code
        changed      = $script:Changed
        instanceId   = $InstanceId
        computerName = $script:ComputerName
        domain       = $DomainName
        check        = $script:Check
        message      = $Message
    } | ConvertTo-Json -Compress
    Write-Output "DOMAIN_JOIN_RESULT $line"
    exit $Code
}

# Step 1: the parameters (exit 2).
function Assert-Parameters {
    if ($DomainName -cnotmatch $DomainPattern) {
        Write-Result "invalid-arguments" 2 "DomainName is not a DNS domain name"
    }
    if ($DnsIpAddresses -ne "" -and $DnsIpAddresses -cnotmatch $Ipv4ListPattern) {
        Write-Result "invalid-arguments" 2 "DnsIpAddresses must be 1-8 comma-separated IPv4 addresses"
    }
    if ($LoginGroup -ne "" -and $LoginGroup -cnotmatch $GroupPattern) {
        Write-Result "invalid-arguments" 2 "LoginGroup has invalid characters"
    }
    if ($InstallRdsRole -cnotmatch $BooleanPattern) {
        Write-Result "invalid-arguments" 2 "InstallRdsRole must be true or false"
    }
    if ($InstanceId -ne "" -and $InstanceId -cnotmatch $InstanceIdPattern) {
        Write-Result "invalid-arguments" 2 "InstanceId is not an instance id"
    }
    if ($SealingKeyArn -cnotmatch '^(arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]+:key/.*)?\z') { Write-Result "invalid-arguments" 2 "bad SealingKeyArn" }
}

# An IMDSv2 answer ($Path under /latest/).
function Get-Imds([string]$Path) {
    $token = Invoke-RestMethod -Method Put -Uri "http://169.254.169.254/latest/api/token" `
        -Headers @{ "X-aws-ec2-metadata-token-ttl-seconds" = "60" } -TimeoutSec 5
    return Invoke-RestMethod -Uri "http://169.254.169.254/latest/$Path" `
        -Headers @{ "X-aws-ec2-metadata-token" = $token } -TimeoutSec 5
}

# Step 2: this instance's id (exit 5).
function Resolve-InstanceId {
    if ($script:InstanceId -eq "") {
        try { $script:InstanceId = [string](Get-Imds "meta-data/instance-id") } catch {
            Write-Result "no-instance-id" 5 "could not read the instance id from IMDSv2"
        }
        if ($script:InstanceId -cnotmatch $InstanceIdPattern) {
            $script:InstanceId = ""
            Write-Result "no-instance-id" 5 "IMDSv2 returned no instance id"
        }
    }
}

# Step 3: this instance's entry of the computer list (exit 4); the whole list must follow the grammar.
function Select-Entry {
    $list = [string]$env:DOMAIN_JOIN_COMPUTERS
    if ($list -eq "") { Write-Result "no-entry" 4 "DOMAIN_JOIN_COMPUTERS lists no computer" }
    $listed = $list.Split(' ')
    if ($listed.Count -gt $MaxComputers) {
        Write-Result "invalid-entry" 4 "DOMAIN_JOIN_COMPUTERS lists more than $MaxComputers computers"
    }
    $number = 0
    foreach ($entry in $listed) {
        $number++
        $fields = $entry.Split("=")
        if ($fields.Count -ne 3 -or $fields[0] -cnotmatch $InstanceIdPattern -or
            $fields[1] -cnotmatch $ComputerNamePattern -or $fields[2] -cnotmatch $SecretFormat) {
            Write-Result "invalid-entry" 4 "entry $number of DOMAIN_JOIN_COMPUTERS is malformed"
        }
        if ($fields[0] -ceq $InstanceId) {
            $script:ComputerName = $fields[1]
            $script:Otp = $fields[2]
        }
    }
    if ($script:ComputerName -eq "") {
        Write-Result "no-entry" 4 "no entry for $InstanceId in DOMAIN_JOIN_COMPUTERS"
    }
}

# Step 4: the DNS client servers of every adapter that is up (exit 7).
function Set-DnsServers {
    if ($DnsIpAddresses -eq "") { return }
    $dnsServers = $DnsIpAddresses.Split(",")
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

# One failed preflight check: its name (the result line's "check"), its exit code and the likely cause.
function New-PreflightProblem([string]$Check, [int]$Code, [string]$Reason) {
    return @{ Check = $Check; Code = $Code; Reason = $Reason }
}

# True when Address accepts a TCP connection on Port within ProbeMilliseconds.
function Test-TcpPort([string]$Address, [int]$Port) {
    $client = New-Object System.Net.Sockets.TcpClient
    try {
        $connect = $client.ConnectAsync($Address, $Port)
        return ($connect.Wait($ProbeMilliseconds) -and $client.Connected)
    } catch {
        return $false
    } finally {
        $client.Dispose()
    }
}

# The domain controller's clock (rootDSE currentTime, anonymous LDAP search), in UTC; $null when unreadable.
function Get-DcTime([string]$Address) {
    try {
        Add-Type -AssemblyName System.DirectoryServices.Protocols
        $identifier = New-Object System.DirectoryServices.Protocols.LdapDirectoryIdentifier($Address, 389)
        $connection = New-Object System.DirectoryServices.Protocols.LdapConnection($identifier)
        $connection.AuthType = [System.DirectoryServices.Protocols.AuthType]::Anonymous
        $connection.SessionOptions.ProtocolVersion = 3
        $connection.Timeout = [TimeSpan]::FromMilliseconds($ProbeMilliseconds)
        $request = New-Object System.DirectoryServices.Protocols.SearchRequest(
            "", "(objectClass=*)", [System.DirectoryServices.Protocols.SearchScope]::Base, @("currentTime"))
        $response = $connection.SendRequest($request)
        $stamp = [string]($response.Entries[0].Attributes["currentTime"].GetValues([string])[0])
        $connection.Dispose()
        $styles = [Globalization.DateTimeStyles]"AssumeUniversal, AdjustToUniversal"
        $invariant = [Globalization.CultureInfo]::InvariantCulture
        return [datetime]::ParseExact($stamp.Substring(0, 14), "yyyyMMddHHmmss", $invariant, $styles)
    } catch {
        return $null
    }
}

# The preflight's checks in order: the first failure as a problem, or $null when all pass.
function Get-PreflightProblem {
    $hint = "is the Route 53 Resolver rule for $DomainName associated with this VPC (or DnsIpAddresses set)?"
    $ldapRecord = "_ldap._tcp.dc._msdcs.$DomainName"
    $dc = ""
    foreach ($record in @($ldapRecord, "_kerberos._tcp.$DomainName")) {
        try {
            $targets = @(Resolve-DnsName -Name $record -Type SRV -DnsOnly -QuickTimeout -ErrorAction Stop |
                Where-Object { $_.Type -eq "SRV" } | Sort-Object -Property Priority)
        } catch {
            return New-PreflightProblem "dns" 15 "no SRV record $record ($($_.Exception.Message)): $hint"
        }
        if ($targets.Count -eq 0) { return New-PreflightProblem "dns" 15 "no SRV record $record`: $hint" }
        if ($dc -eq "") { $dc = [string]$targets[0].NameTarget }
    }
    try {
        $address = [string](@(Resolve-DnsName -Name $dc -Type A -DnsOnly -QuickTimeout -ErrorAction Stop |
            Where-Object { $_.Type -eq "A" })[0].IPAddress)
    } catch {
        $address = ""
    }
    if ($address -eq "") {
        return New-PreflightProblem "dns" 15 "domain controller $dc (from SRV $ldapRecord) has no IPv4 address: $hint"
    }
    foreach ($port in $PreflightPorts.Keys) {
        if (-not (Test-TcpPort $address $port)) {
            return New-PreflightProblem "port-$port" $PreflightExit[$port] ("domain controller $address ($dc) does not " +
                "answer on TCP $port ($($PreflightPorts[$port])): check the security groups and network ACLs (docs/network.md)")
        }
    }
    $dcTime = Get-DcTime $address
    if ($null -eq $dcTime) {
        Write-Warning "could not read the clock of $address (rootDSE currentTime); Kerberos will tell if it is off"
        return $null
    }
    $skew = [int][math]::Abs(([datetime]::UtcNow - $dcTime).TotalSeconds)
    if ($skew -gt $MaxClockSkewSeconds) {
        return New-PreflightProblem "clock" 20 ("this clock is ${skew}s off the clock of domain controller $address " +
            "(Kerberos allows ${MaxClockSkewSeconds}s): check the Windows Time service (Amazon Time Sync Service, 169.254.169.123)")
    }
    return $null
}

# Step 5: before a join (not once joined), the preflight, tried again every -RetryIntervalSeconds until
# -WaitSeconds (one deadline with the join's own retries); then the last failure ends the run (exit 15-20).
function Test-Preflight {
    if ((Get-CimInstance -ClassName Win32_ComputerSystem).PartOfDomain) { return }
    $script:Deadline = (Get-Date).AddSeconds($WaitSeconds)
    while ($true) {
        $problem = Get-PreflightProblem
        if ($null -eq $problem) { return }
        if ((Get-Date) -ge $script:Deadline) {
            $script:Check = $problem.Check
            Write-Result "preflight-failed" $problem.Code $problem.Reason
        }
        Write-Warning "preflight: $($problem.Reason); retrying in ${RetryIntervalSeconds}s"
        Start-Sleep -Seconds $RetryIntervalSeconds
    }
}

# Step 6: join (and rename) with the one-time password only; exits 3010 for the reboot (8, 9, 12 on failure).
# The sealed one-time password opened with this instance's role (exit 21), right before a join.
function Open-SealedOtp {
    if ($SealingKeyArn -eq "") { return }
    $key = $SealingKeyArn.Split(":")
    try {
        $id = Get-Imds "dynamic/instance-identity/document"
        $context = @{ "ec2-domain-join:purpose" = "join"
            "ec2-domain-join:instance-arn" = "arn:$($key[1]):ec2:$($id.region):$($id.accountId):instance/$InstanceId" }
        $sealed = $script:Otp + ("=" * ((4 - $script:Otp.Length % 4) % 4))
        $blob = New-Object System.IO.MemoryStream (, [Convert]::FromBase64String($sealed))
        $answer = Invoke-KMSDecrypt -CiphertextBlob $blob -KeyId $SealingKeyArn -EncryptionContext $context -Region $key[3]
        $script:Otp = [Text.Encoding]::ASCII.GetString($answer.Plaintext.ToArray())
    } catch { $script:Otp = "" }
    if ($script:Otp -cnotmatch $OtpPattern) {
        $script:Otp = ""
        Write-Result "unseal-failed" 21 "kms decrypt failed"
    }
}

function Join-Domain {
    $system = Get-CimInstance -ClassName Win32_ComputerSystem
    if ($system.PartOfDomain) {
        if ($system.Domain -ne $DomainName -or $env:COMPUTERNAME -ne $script:ComputerName) {
            Write-Result "joined-elsewhere" 12 "already a member of $($system.Domain) as $env:COMPUTERNAME; not touching it"
        }
        return
    }
    Open-SealedOtp
    # Unsecured join: the prestaged account's one-time password is the only secret; no user name is given.
    $secret = ConvertTo-SecureString -String $script:Otp -AsPlainText -Force
    $joinCredential = New-Object System.Management.Automation.PSCredential -ArgumentList (
        [PSCustomObject]@{ UserName = $null; Password = $secret })
    $options = "UnsecuredJoin,PasswordPass"
    $deadline = $script:Deadline
    if ($null -eq $deadline) { $deadline = (Get-Date).AddSeconds($WaitSeconds) }
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
            $reason = $_.Exception.Message.Replace($script:Otp, "<redacted>")
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

# Step 7 (after the join reboot): the login group into Remote Desktop Users (exit 10).
function Grant-RemoteDesktop {
    if ($LoginGroup -eq "") { return }
    try {
        $rdpUsers = Get-LocalGroup -SID "S-1-5-32-555"
        # NETBIOS\name and name@domain are taken as given; a plain name is looked up in the joined domain.
        $member = $LoginGroup
        if ($LoginGroup -notmatch '[\\@]') { $member = "$DomainName\$LoginGroup" }
        $shortName = ($LoginGroup -split '[\\@]')[0]
        if ($LoginGroup -match '\\') { $shortName = (($LoginGroup -split '\\')[1] -split '@')[0] }
        $present = Get-LocalGroupMember -Group $rdpUsers | Where-Object { $_.Name -like "*\$shortName" }
        if (-not $present) {
            Add-LocalGroupMember -Group $rdpUsers -Member $member
            $script:Changed = $true
        }
    } catch {
        Write-Result "config-failed" 10 "adding $LoginGroup to Remote Desktop Users failed: $($_.Exception.Message)"
    }
}

# Step 8: the RDS session host role when asked for (exit 10; 3010 when Windows must restart).
function Install-RdsRole {
    if ($InstallRdsRole -ne "true") { return }
    try {
        $feature = Get-WindowsFeature -Name "RDS-RD-Server"
        if ($feature.Installed) { return }
        $install = Install-WindowsFeature -Name "RDS-RD-Server"
        $script:Changed = $true
    } catch {
        Write-Result "config-failed" 10 "installing RDS-RD-Server failed: $($_.Exception.Message)"
    }
    if ($install.RestartNeeded -eq "Yes") {
        Write-Result "rds-reboot" 3010 "RDS-RD-Server installed; rebooting"
    }
}

function Invoke-DomainJoin {
    Assert-Parameters
    Resolve-InstanceId
    Select-Entry
    Set-DnsServers
    Test-Preflight
    Join-Domain
    Grant-RemoteDesktop
    Install-RdsRole
    if ($script:Changed) {
        Write-Result "configured" 0 "joined $DomainName as $($script:ComputerName)"
    }
    Write-Result "already-joined" 0 "already joined; nothing changed"
}

Invoke-DomainJoin
