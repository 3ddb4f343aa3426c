<#
ec2-domain-join: list the computer objects we own on a Windows AD tools host (Windows step of
DomainJoin-Inventory).

Usage:
  Inventory.ps1 -DomainName DOMAIN -JoinUserName USER -PasswordParameter SSM_PARAMETER_NAME
                [-SearchBases "OU_DN;OU_DN;..."] [-Server DC_HOSTNAME] [-Region REGION]

One paged search per base (subtree) for the computer objects whose description starts with the stamp prefix;
listed are only those whose description is exactly a stamp (ec2-domain-join:<account>/<region>/<instance id>)
and whose sAMAccountName is NAME$ with NAME a computer name of ours. Nothing outside the bases is searched;
nothing is changed. SearchBases: 1-16 OU DNs joined by ";"; empty: the domain's Computers container. An
object under two of the bases is listed once.
The join user's password is read from the SSM SecureString here; it is never a parameter value.
Dot-sources ToolsHostLib.ps1 from its own directory.

Output on success: one line, the JSON document (takenAt: UTC, when the first search started)
  {"version":1,"domain":"...","takenAt":"2026-12-02T15:00:00Z",
   "objects":[{"name":"...","dn":"...","description":"..."}],"truncated":false}
On failure: one DOMAIN_JOIN_RESULT line. Exit codes:
  0 listed   2 invalid parameter value   3 password could not be read   5 no domain controller / AD module
  7 a search failed
#>
param(
    [Parameter(Mandatory = $true)][string]$DomainName,
    [Parameter(Mandatory = $true)][string]$JoinUserName,
    [Parameter(Mandatory = $true)][string]$PasswordParameter,
    [string]$SearchBases = "",
    [string]$Server = "",
    [string]$Region = ""
)

Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"
. (Join-Path $PSScriptRoot "ToolsHostLib.ps1")
# The shared OU format (handlers/domain_join/patterns.py OU), .NET syntax, used with -cnotmatch; the same
# literal as Prestage.ps1's (tests/scripts/test_inventory_fakes.py keeps them equal).
$OuPattern = '^[A-Za-z]{1,16}=[^,=+"''`$;&|<>\\\x00-\x1f\x7f]+(,[A-Za-z]{1,16}=[^,=+"''`$;&|<>\\\x00-\x1f\x7f]+){0,31}\z'
# handlers/domain_join/contract.py: SEARCH_BASES_SEPARATOR, MAX_SEARCH_BASES, STAMP_PREFIX, INVENTORY_FORMAT_VERSION.
$MaxSearchBases = 16
$StampPrefix = "ec2-domain-join:"
$FormatVersion = 1
$PageSize = 500

$bases = @()
if ($SearchBases -ne "") { $bases = @($SearchBases.Split(";")) }
$badBases = @($bases | Where-Object { $_ -cnotmatch $OuPattern })
if ($bases.Count -gt $MaxSearchBases -or $badBases.Count -gt 0) {
    Write-Result "" "invalid-arguments" 2 "SearchBases must be 1 to $MaxSearchBases OU DNs of plain RDNs joined by ;"
    exit 2
}

Initialize-ToolsHost -DomainName $DomainName -JoinUserName $JoinUserName -PasswordParameter $PasswordParameter `
    -Server $Server -Region $Region -NoComputerList
$ad = $script:AD
try {
    if ($bases.Count -eq 0) { $bases = @((Get-ADDomain @ad).ComputersContainer) }
} catch {
    Exit-ForEveryEntry "no-domain-controller" 5 "no domain controller for $DomainName"
}

$objects = @()
$seen = @{}
$takenAt = (Get-Date).ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'")
foreach ($base in $bases) {
    try {
        $found = @(Get-ADComputer @ad -SearchBase $base -SearchScope Subtree -ResultPageSize $PageSize `
                -LDAPFilter "(description=$StampPrefix*)" -Properties Description)
    } catch {
        Exit-ForEveryEntry "failed" 7 "listing the computers under $base failed: $($_.Exception.Message)"
    }
    $skipped = 0
    foreach ($computer in $found) {
        $account = [string]$computer.SamAccountName
        $name = $account.Substring(0, [Math]::Max(0, $account.Length - 1))
        $description = $computer.Description
        if (-not ($description -is [string]) -or $description -cnotmatch $StampPattern -or
            $account -cne "$name`$" -or $name -cnotmatch $ComputerNamePattern) {
            $skipped++  # a description that only starts like a stamp, or a name not of ours
            continue
        }
        $key = ([string]$computer.DistinguishedName).ToLowerInvariant()
        if ($seen.ContainsKey($key)) { continue }  # under two of the bases
        $seen[$key] = $true
        $objects += [ordered]@{ name = $name; dn = [string]$computer.DistinguishedName; description = $description }
    }
    if ($skipped -gt 0) {
        [Console]::Error.WriteLine("inventory: $skipped objects under $base look like ours but are not; not listed")
    }
}
$document = [ordered]@{
    version = $FormatVersion; domain = $DomainName.ToLowerInvariant(); takenAt = $takenAt; objects = @($objects)
    truncated = $false
}
Write-Output (ConvertTo-Json -InputObject $document -Compress -Depth 4)
exit 0
