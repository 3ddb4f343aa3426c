<#
ec2-domain-join: what Prestage.ps1 and Remove.ps1 share on a Windows AD tools host. Dot-sourced, never run:
each script dot-sources it from $PSScriptRoot (the SSM documents write it next to the script).

It holds the result lines, the checks of the shared parameters, the computer list, the join user's password
(read from the SSM SecureString here, never a parameter value) and the connection to a domain controller.
Result lines go straight to the output, so Initialize-ToolsHost hands its results back in script variables
($script:Entries, $script:AD) rather than through the pipeline, which would swallow them.
#>

Set-StrictMode -Version Latest
$script:Worst = 0
$script:Entries = @()
$script:AD = @{}
$script:OpenedList = $null  # the list a sealed DOMAIN_JOIN_COMPUTERS holds (Prestage.ps1), never in the environment
$MaxComputers = 50
# The shared formats (handlers/domain_join/patterns.py) in .NET syntax, always used with the case-sensitive
# -cmatch/-cnotmatch; "\z" is the end of the value (.NET's "$" also matches before a final newline).
# tests/scripts/test_patterns.py extracts these literals and checks them against the shared corpus.
$DomainPattern = '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\z'
$UserPattern = '^([A-Za-z0-9][A-Za-z0-9-]{0,14}\\)?[A-Za-z0-9][A-Za-z0-9._-]{0,63}(@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)?\z'
$RegionPattern = '^[a-z]{2,4}(-[a-z]{2,10}){1,3}-[0-9]{1,2}\z'
$ParameterNamePattern = '^[A-Za-z0-9_/][A-Za-z0-9_./-]{0,2047}\z'
$ComputerNamePattern = '^[A-Z][A-Z0-9-]{0,14}\z'
$OtpPattern = '^[A-Za-z0-9]{24,128}\z'
$StampPattern = '^ec2-domain-join:[0-9]{12}/[a-z]{2,4}(-[a-z]{2,10}){1,3}-[0-9]{1,2}/i-[0-9a-f]{8,17}\z'

function Write-Result([string]$Name, [string]$Status, [int]$Code, [string]$Message) {
    $line = [ordered]@{ computerName = $Name; status = $Status; exitCode = $Code; message = $Message } |
        ConvertTo-Json -Compress
    Write-Output "DOMAIN_JOIN_RESULT $line"
    if ($Code -gt $script:Worst) { $script:Worst = $Code }
}

# A failure that concerns every computer of the list: one result line each, then exit with the worst code
# reported (a malformed entry's 8 stays visible, as in bash).
function Exit-ForEveryEntry([string]$Status, [int]$Code, [string]$Message) {
    foreach ($fields in $script:Entries) { Write-Result $fields[0] $Status $Code $Message }
    if ($script:Worst -lt $Code) { Write-Result "" $Status $Code $Message }
    exit $script:Worst
}

function Get-JoinPassword([string]$ParameterName, [string]$Region) {
    if ($Region -eq "") { $Region = [string]$env:AWS_REGION }
    if (Get-Command -Name Get-SSMParameter -ErrorAction SilentlyContinue) {
        $arguments = @{ Name = $ParameterName; WithDecryption = $true }
        if ($Region) { $arguments.Region = $Region }
        return (Get-SSMParameter @arguments).Value
    }
    $cli = @("ssm", "get-parameter", "--name", $ParameterName, "--with-decryption",
        "--query", "Parameter.Value", "--output", "text")
    if ($Region) { $cli += @("--region", $Region) }
    $value = & aws @cli
    if ($LASTEXITCODE -ne 0) { throw "aws ssm get-parameter failed (exit code $LASTEXITCODE)" }
    return $value
}

function Test-EntryFields([string[]]$Fields, [string[]]$Patterns) {
    if ($Fields.Count -ne $Patterns.Count) { return $false }
    for ($i = 0; $i -lt $Patterns.Count; $i++) {
        if ($Fields[$i] -cnotmatch $Patterns[$i]) { return $false }
    }
    return $true
}

# The computer list split on single spaces (the grammar allows no other separator; an empty entry stays one).
function Get-ListedEntries {
    $list = [string]$env:DOMAIN_JOIN_COMPUTERS
    if ($null -ne $script:OpenedList) { $list = $script:OpenedList }  # Prestage.ps1 opened a sealed list
    if ($list -eq "") { return , @() }
    return , $list.Split(' ')
}

<#
Checks the shared parameters (exit 2), keeps the entries of DOMAIN_JOIN_COMPUTERS whose fields match
$FieldPatterns in $script:Entries (exit 8 when none is left or the list is too long), reads the join user's
password (exit 3) and finds a domain controller (exit 5); $script:AD then holds the Server and Credential
every AD call takes. -NoComputerList (Inventory.ps1): no list is read and $script:Entries stays empty.
#>
function Initialize-ToolsHost {
    param(
        [string]$DomainName, [string]$JoinUserName, [string]$PasswordParameter, [string]$Server,
        [string]$Region, [string[]]$FieldPatterns, [string]$Expected, [switch]$NoComputerList
    )
    if ($DomainName -cnotmatch $DomainPattern -or $JoinUserName -cnotmatch $UserPattern -or
        $PasswordParameter -cnotmatch $ParameterNamePattern -or ($Region -ne "" -and $Region -cnotmatch $RegionPattern)) {
        Write-Result "" "invalid-arguments" 2 "DomainName, JoinUserName, PasswordParameter or Region is invalid"
        exit 2
    }

    $listed = @()
    if (-not $NoComputerList) { $listed = Get-ListedEntries }
    if ($listed.Count -gt $MaxComputers) {
        Write-Result "" "invalid-entry" 8 "DOMAIN_JOIN_COMPUTERS lists more than $MaxComputers computers"
        exit 8
    }
    $script:Entries = @()
    foreach ($entry in $listed) {
        $fields = $entry.Split("=")
        if (Test-EntryFields $fields $FieldPatterns) {
            $script:Entries += , $fields
        } else {
            $name = ""
            if ($fields[0] -cmatch $ComputerNamePattern) { $name = $fields[0] }
            Write-Result $name "invalid-entry" 8 "malformed entry (expected $Expected)"
        }
    }
    if ($script:Entries.Count -eq 0 -and -not $NoComputerList) {
        if ($script:Worst -eq 0) { Write-Result "" "invalid-entry" 8 "DOMAIN_JOIN_COMPUTERS lists no computer" }
        exit $script:Worst
    }

    # NETBIOS\name and name@domain are used as given; a plain name logs in as name@DomainName.
    $loginName = $JoinUserName
    if ($JoinUserName -notmatch '[\\@]') { $loginName = "$JoinUserName@$DomainName" }

    try {
        $password = Get-JoinPassword $PasswordParameter $Region
        if (-not $password) { throw "empty" }
        $credential = New-Object System.Management.Automation.PSCredential -ArgumentList @(
            $loginName, (ConvertTo-SecureString -String $password -AsPlainText -Force))
        $password = $null
    } catch {
        Exit-ForEveryEntry "no-password" 3 "the join user's password could not be read"
    }

    try {
        Import-Module ActiveDirectory
        if ($Server -eq "") { $Server = [string](Get-ADDomainController -DomainName $DomainName -Discover).HostName }
        $script:AD = @{ Server = $Server; Credential = $credential }
    } catch {
        Exit-ForEveryEntry "no-domain-controller" 5 "no domain controller for $DomainName"
    }
}
