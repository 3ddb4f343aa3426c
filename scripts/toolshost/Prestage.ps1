<#
ec2-domain-join: prestage computer accounts on a Windows AD tools host (Windows step of DomainJoin-Prestage).

Usage:
  Prestage.ps1 -DomainName DOMAIN [-OuPath OU_DN] -JoinUserName USER -PasswordParameter SSM_PARAMETER_NAME
               [-Server DC_HOSTNAME] [-Region REGION] [-SealingKeyArn KMS_KEY_ARN -SealedBatch BATCH_ID]

The computer list comes in the environment variable DOMAIN_JOIN_COMPUTERS, never in argv:
  "COMPUTERNAME=OTP=STAMP COMPUTERNAME=OTP=STAMP ..."   STAMP = ec2-domain-join:<account>/<region>/<instance id>
Sealed (-SealingKeyArn given; the handler always seals): it holds 1-8 base64 KMS ciphertexts (padding cut)
joined by spaces, each opened with Invoke-KMSDecrypt (AWS Tools for PowerShell) or `aws kms decrypt` in the
key's Region under the encryption context {"ec2-domain-join:purpose":"prestage","ec2-domain-join:batch":
BATCH_ID}; the plaintext stays in a script variable (never the environment, argv, a file or the output).
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
  8 at least one malformed entry         9 the sealed list could not be opened (kms decrypt failed)
#>
param(
    [Parameter(Mandatory = $true)][string]$DomainName,
    [string]$OuPath = "",
    [Parameter(Mandatory = $true)][string]$JoinUserName,
    [Parameter(Mandatory = $true)][string]$PasswordParameter,
    [string]$Server = "",
    [string]$Region = "",
    [string]$SealingKeyArn = "",
    [string]$SealedBatch = ""
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

# The sealed list's formats (handlers/domain_join/wire.py: KMS_KEY_ARN, BATCH_ID, SEALED, MAX_SEALED_PIECES).
$KmsKeyArnFormat = '^arn:aws(-[a-z]{1,10}){0,2}:kms:[a-z]{2,4}(-[a-z]{2,10}){1,3}-[0-9]{1,2}:[0-9]{12}:key/[A-Za-z0-9-]{1,128}\z'
$BatchIdFormat = '^[0-9a-f]{32}\z'
$SealedFormat = '^[A-Za-z0-9+/]{64,8192}\z'
$MaxSealedPieces = 8

# One sealed piece opened: AWS Tools for PowerShell when present, else the AWS CLI (ciphertext and context
# through private temporary files, plaintext through the pipeline).
function Open-SealedPiece([byte[]]$Blob, [string]$KeyArn, [string]$Region, [hashtable]$Context) {
    if (Get-Command -Name Invoke-KMSDecrypt -ErrorAction SilentlyContinue) {
        $stream = New-Object System.IO.MemoryStream (, $Blob)
        $answer = Invoke-KMSDecrypt -CiphertextBlob $stream -KeyId $KeyArn -EncryptionContext $Context -Region $Region
        return [System.Text.Encoding]::ASCII.GetString($answer.Plaintext.ToArray())
    }
    $blobFile = [System.IO.Path]::GetTempFileName()
    $contextFile = [System.IO.Path]::GetTempFileName()
    try {
        [System.IO.File]::WriteAllBytes($blobFile, $Blob)
        [System.IO.File]::WriteAllText($contextFile, ($Context | ConvertTo-Json -Compress))
        $encoded = & aws kms decrypt --region $Region --key-id $KeyArn --encryption-context "file://$contextFile" `
            --ciphertext-blob "fileb://$blobFile" --query Plaintext --output text
        if ($LASTEXITCODE -ne 0) { throw "aws kms decrypt failed (exit code $LASTEXITCODE)" }
        return [System.Text.Encoding]::ASCII.GetString([Convert]::FromBase64String([string]$encoded))
    } finally {
        Remove-Item -LiteralPath $blobFile, $contextFile -Force -ErrorAction SilentlyContinue
    }
}

# With -SealingKeyArn: the list the sealed DOMAIN_JOIN_COMPUTERS holds, into $script:OpenedList (which
# ToolsHostLib.ps1 reads instead of the environment).
function Open-SealedComputers([string]$KeyArn, [string]$Batch) {
    if ($KeyArn -eq "") {
        if ($Batch -ne "") { Write-Result "" "invalid-arguments" 2 "SealedBatch needs SealingKeyArn"; exit 2 }
        return
    }
    if ($KeyArn -cnotmatch $KmsKeyArnFormat -or $Batch -cnotmatch $BatchIdFormat) {
        Write-Result "" "invalid-arguments" 2 "SealingKeyArn or SealedBatch is invalid"
        exit 2
    }
    $pieces = @(([string]$env:DOMAIN_JOIN_COMPUTERS).Split(' '))
    if ($pieces.Count -gt $MaxSealedPieces -or @($pieces | Where-Object { $_ -cnotmatch $SealedFormat }).Count -gt 0) {
        Write-Result "" "invalid-entry" 8 "DOMAIN_JOIN_COMPUTERS holds malformed sealed pieces"
        exit 8
    }
    $context = @{ "ec2-domain-join:purpose" = "prestage"; "ec2-domain-join:batch" = $Batch }
    $keyRegion = $KeyArn.Split(":")[3]
    $opened = @()
    try {
        foreach ($piece in $pieces) {
            $blob = [Convert]::FromBase64String($piece + ("=" * ((4 - $piece.Length % 4) % 4)))
            $opened += Open-SealedPiece $blob $KeyArn $keyRegion $context
        }
    } catch {
        Write-Result "" "unseal-failed" 9 "kms decrypt of the sealed computer list failed (key $KeyArn)"
        exit 9
    }
    $script:OpenedList = $opened -join " "
}

Open-SealedComputers $SealingKeyArn $SealedBatch
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
