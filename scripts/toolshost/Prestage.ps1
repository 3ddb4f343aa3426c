<#
ec2-domain-join: prestage computer accounts on a Windows AD tools host (Windows step of DomainJoin-Prestage).

Usage:
  Prestage.ps1 -DomainName DOMAIN [-OuPath OU_DN] -JoinUserName USER -PasswordParameter SSM_PARAMETER_NAME
               [-Server DC_HOSTNAME] [-Region REGION]

The computer list comes in the environment variable DOMAIN_JOIN_COMPUTERS, never in argv:
  "COMPUTERNAME=OTP=STAMP COMPUTERNAME=OTP=STAMP ..."   STAMP = ec2-domain-join:<account>/<region>/<instance id>
For each computer: no object with that sAMAccountName -> create it in OuPath (default: the domain's Computers
container) with the one-time password and the stamp in description; an object whose description is exactly
STAMP and that no instance has joined yet -> reset its password to the one-time password (idempotent retry);
an object with STAMP that the instance has already joined -> leave it untouched (a reset would break the
instance's trust); any other object -> refuse and leave it untouched. "Already joined" means the object has a
servicePrincipalName: prestage never writes one, and a Windows join or adcli join registers HOST/... SPNs right
after replacing the one-time password with its own machine password.
The join user's password is read from the SSM SecureString here; it is never a parameter value.
Needs the ActiveDirectory PowerShell module (RSAT-AD-PowerShell) and AWS Tools for PowerShell or the AWS CLI.
Dot-sources ToolsHostLib.ps1 from its own directory.

Output: one `DOMAIN_JOIN_RESULT {json}` line per computer. Exit codes (the highest per-computer code wins):
  0 every computer created, reset, or already joined by its instance (left untouched)
  2 invalid parameter value              3 password could not be read
  5 no domain controller / AD module     6 at least one computer refused   7 at least one computer failed
  8 at least one malformed entry
#>
param(
    [Parameter(Mandatory = $true)][string]$DomainName,
    [string]$OuPath = "",
    [Parameter(Mandatory = $true)][string]$JoinUserName,
    [Parameter(Mandatory = $true)][string]$PasswordParameter,
    [string]$Server = "",
    [string]$Region = ""
)

Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"
. (Join-Path $PSScriptRoot "ToolsHostLib.ps1")
# The shared OU format (handlers/domain_join/patterns.py OU), .NET syntax, used with -cnotmatch.
$OuPattern = '^[A-Za-z]{1,16}=[^,=+"''`$;&|<>\\\x00-\x1f\x7f]+(,[A-Za-z]{1,16}=[^,=+"''`$;&|<>\\\x00-\x1f\x7f]+){0,31}\z'
if ($OuPath -ne "" -and $OuPath -cnotmatch $OuPattern) {
    Write-Result "" "invalid-arguments" 2 "OuPath must be a DN of plain RDNs"
    exit 2
}

Initialize-ToolsHost -DomainName $DomainName -JoinUserName $JoinUserName -PasswordParameter $PasswordParameter `
    -Server $Server -Region $Region -FieldPatterns $ComputerNamePattern, $OtpPattern, $StampPattern `
    -Expected "NAME=OTP=STAMP"
$ad = $script:AD
try {
    if ($OuPath -eq "") { $OuPath = (Get-ADDomain @ad).ComputersContainer }
} catch {
    Exit-ForEveryEntry "no-domain-controller" 5 "no domain controller for $DomainName"
}

# The stamp proves ownership; any servicePrincipalName proves that the instance has already joined.
$lookedAt = @("Description", "servicePrincipalName")
foreach ($fields in $script:Entries) {
    $name, $otp, $stamp = $fields
    try {
        $secret = ConvertTo-SecureString -String $otp -AsPlainText -Force
        $existing = Get-ADComputer @ad -Filter "sAMAccountName -eq '$name`$'" -Properties $lookedAt
        if ($null -eq $existing) {
            New-ADComputer @ad -Name $name -SamAccountName "$name`$" -Path $OuPath -Description $stamp `
                -DNSHostName "$($name.ToLower()).$DomainName" -AccountPassword $secret -Enabled $true
            Write-Result $name "created" 0 "created CN=$name,$OuPath"
        } elseif ($existing.Description -cne $stamp) {
            Write-Result $name "refused" 6 "$($existing.DistinguishedName) exists and is not owned by this instance; left untouched"
        } elseif (@($existing.servicePrincipalName | Where-Object { $_ }).Count -gt 0) {
            # A redelivered or duplicate event after the join: a new one-time password would lock the instance out.
            Write-Result $name "already-joined" 0 "$($existing.DistinguishedName) is ours and already joined (it has service principal names); left untouched"
        } else {
            Set-ADAccountPassword @ad -Identity $existing.DistinguishedName -Reset -NewPassword $secret
            Write-Result $name "reset" 0 "$($existing.DistinguishedName) is ours; one-time password reset"
        }
    } catch {
        Write-Result $name "failed" 7 "prestaging $name failed: $($_.Exception.Message)"
    }
}
exit $script:Worst
