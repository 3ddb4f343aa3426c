<#
ec2-domain-join: what Prestage.ps1 and Remove.ps1 share on a Windows AD tools host. Dot-sourced, never run:
each script dot-sources it from $PSScriptRoot (the SSM documents write it next to the script).

It holds the result lines, the checks of the shared parameters, the computer list, the join user's password
(read from the SSM SecureString here, never a parameter value) and the connection to a domain controller.
Result lines go straight to the output, so Initialize-ToolsHost hands its results back in script variables
($script:Entries, $script:AD) rather than through the pipeline, which would swallow them.
#>

$script:Worst = 0
$ComputerNamePattern = '^[A-Z][A-Z0-9-]{0,14}$'
$OtpPattern = '^[A-Za-z0-9]{24,128}$'
$StampPattern = '^ec2-domain-join:[0-9]{12}/[a-z0-9-]{1,32}/i-[0-9a-f]{8,17}$'

function Write-Result([string]$Name, [string]$Status, [int]$Code, [string]$Message) {
    $line = [ordered]@{ computerName = $Name; status = $Status; exitCode = $Code; message = $Message } |
        ConvertTo-Json -Compress
    Write-Output "DOMAIN_JOIN_RESULT $line"
    if ($Code -gt $script:Worst) { $script:Worst = $Code }
}

# A failure that concerns every computer of the list: one result line each, then exit.
function Exit-ForEveryEntry([string]$Status, [int]$Code, [string]$Message) {
    foreach ($fields in $script:Entries) { Write-Result $fields[0] $Status $Code $Message }
    exit $Code
}

function Get-JoinPassword([string]$ParameterName, [string]$Region) {
    if ($Region -eq "") { $Region = $env:AWS_REGION }
    if (Get-Command -Name Get-SSMParameter -ErrorAction SilentlyContinue) {
        $arguments = @{ Name = $ParameterName; WithDecryption = $true }
        if ($Region) { $arguments.Region = $Region }
        return (Get-SSMParameter @arguments).Value
    }
    $cli = @("ssm", "get-parameter", "--name", $ParameterName, "--with-decryption",
        "--query", "Parameter.Value", "--output", "text")
    if ($Region) { $cli += @("--region", $Region) }
    return (& aws @cli)
}

function Test-EntryFields([string[]]$Fields, [string[]]$Patterns) {
    if ($Fields.Count -ne $Patterns.Count) { return $false }
    for ($i = 0; $i -lt $Patterns.Count; $i++) {
        if ($Fields[$i] -cnotmatch $Patterns[$i]) { return $false }
    }
    return $true
}

<#
Checks the shared parameters (exit 2), keeps the entries of DOMAIN_JOIN_COMPUTERS whose fields match
$FieldPatterns in $script:Entries (exit 8 when none is left), reads the join user's password (exit 3) and
finds a domain controller (exit 5); $script:AD then holds the Server and Credential every AD call takes.
#>
function Initialize-ToolsHost {
    param(
        [string]$DomainName, [string]$JoinUserName, [string]$PasswordParameter, [string]$Server,
        [string]$Region, [string[]]$FieldPatterns, [string]$Expected
    )
    if ($DomainName -notmatch '^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$' -or $JoinUserName -notmatch '^[A-Za-z0-9][A-Za-z0-9._@\\-]{0,255}$') {
        Write-Result "" "invalid-arguments" 2 "DomainName or JoinUserName is invalid"
        exit 2
    }

    $script:Entries = @()
    foreach ($entry in ("$env:DOMAIN_JOIN_COMPUTERS".Trim() -split '\s+')) {
        if ($entry -eq "") { continue }
        $fields = $entry.Split("=")
        if (Test-EntryFields $fields $FieldPatterns) {
            $script:Entries += , $fields
        } else {
            Write-Result "" "invalid-entry" 8 "malformed entry (expected $Expected)"
        }
    }
    if ($script:Entries.Count -eq 0) {
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
