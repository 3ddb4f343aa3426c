<#
ec2-domain-join: remove computer accounts on a Windows AD tools host (Windows step of DomainJoin-Remove).

Usage:
  Remove.ps1 -DomainName DOMAIN -JoinUserName USER -PasswordParameter SSM_PARAMETER_NAME [-Server DC_HOSTNAME]
             [-Region REGION] [-Action delete|disable]

The computer list comes in the environment variable DOMAIN_JOIN_COMPUTERS, never in argv:
  "COMPUTERNAME=STAMP COMPUTERNAME=STAMP ..."   STAMP = ec2-domain-join:<account>/<region>/<instance id>
For each computer: no object with that sAMAccountName -> success (already gone); an object whose description is
exactly STAMP -> with -Action delete (the default) delete it with its child objects (Remove-ADObject -Recursive:
the tree-delete control), with -Action disable set ACCOUNTDISABLE and keep it (quarantine); any other object ->
refuse and leave it untouched. The stamp is read and compared right before the change; a disable is one LDAP
modify that also removes and re-adds the stamp value, so the directory refuses it when the stamp changed.
The join user's password is read from the SSM SecureString here; it is never a parameter value.
Dot-sources ToolsHostLib.ps1 from its own directory.

Output: one `DOMAIN_JOIN_RESULT {json}` line per computer. Exit codes (the highest per-computer code wins):
  0 every computer deleted (or disabled) or already gone
  2 invalid parameter value                  3 password could not be read
  5 no domain controller / AD module         6 at least one computer refused   7 at least one computer failed
  8 at least one malformed entry
#>
param(
    [Parameter(Mandatory = $true)][string]$DomainName,
    [Parameter(Mandatory = $true)][string]$JoinUserName,
    [Parameter(Mandatory = $true)][string]$PasswordParameter,
    [string]$Server = "",
    [string]$Region = "",
    [string]$Action = "delete"
)

Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"
. (Join-Path $PSScriptRoot "ToolsHostLib.ps1")
$AccountDisable = 2
if ($Action -cne "delete" -and $Action -cne "disable") {
    Write-Result "" "invalid-arguments" 2 "Action must be delete or disable"
    exit 2
}

Initialize-ToolsHost -DomainName $DomainName -JoinUserName $JoinUserName -PasswordParameter $PasswordParameter `
    -Server $Server -Region $Region -FieldPatterns $ComputerNamePattern, $StampPattern -Expected "NAME=STAMP"
$ad = $script:AD
$lookedAt = @("Description", "userAccountControl")

foreach ($fields in $script:Entries) {
    $name, $stamp = $fields
    try {
        $existing = Get-ADComputer @ad -Filter "sAMAccountName -eq '$name`$'" -Properties $lookedAt
        if ($null -eq $existing) {
            Write-Result $name "absent" 0 "no computer object named $name; nothing to remove"
        } elseif ($existing.Description -cne $stamp) {
            Write-Result $name "refused" 6 "$($existing.DistinguishedName) does not carry the stamp of this instance; left untouched"
        } elseif ($Action -ceq "delete") {
            Remove-ADObject @ad -Identity $existing.DistinguishedName -Recursive -Confirm:$false
            Write-Result $name "deleted" 0 "deleted $($existing.DistinguishedName)"
        } elseif (($existing.userAccountControl -band $AccountDisable) -ne 0) {
            Write-Result $name "disabled" 0 "$($existing.DistinguishedName) is ours and already disabled; kept"
        } else {
            # One modify (Remove, then Add, then Replace): refused when the stamp is no longer there.
            Set-ADObject @ad -Identity $existing.DistinguishedName -Remove @{ description = $stamp } `
                -Add @{ description = $stamp } -Replace @{ userAccountControl = ($existing.userAccountControl -bor $AccountDisable) }
            Write-Result $name "disabled" 0 "disabled $($existing.DistinguishedName) (kept with its stamp)"
        }
    } catch {
        Write-Result $name "failed" 7 "removing $name failed: $($_.Exception.Message)"
    }
}
exit $script:Worst
