# sms.remediation:hierarchy v1
#
# Read-only: the SMS hierarchy as a site's SMS Provider lists it, for the sms_hierarchy inventory plugin.
# The plugin runs it by itself over WinRM (pywinrm, one command: plugins/plugin_utils/_scripts.py
# standalone_command), not through win_powershell, so it prints its result as JSON at the end.
# root\SMS SMS_ProviderLocation gives the site code when none is given; SMS_Site in root\SMS\site_<code>
# lists that site and every site beneath it (the central site: the whole hierarchy). Nothing is changed.
# Result: docs/internals.md section 6.

[CmdletBinding(SupportsShouldProcess)]
param(
    [string]$SiteCode = '',
    [string]$ProviderNamespace = 'root\SMS',
    [int]$WmiTimeoutSeconds = 30
)

# sms.remediation:prelude (the shared helpers of _prelude.ps1 go here when the script is sent)

function Get-ProviderLocation {
    # The provider of the local site: its site code, machine and namespace.
    $query = 'select * from SMS_ProviderLocation where ProviderForLocalSite = true'
    $rows = Invoke-WmiQuery -Namespace $ProviderNamespace -Query $query -TimeoutSeconds $WmiTimeoutSeconds
    if ($rows.Count -eq 0 -or [string]::IsNullOrEmpty([string]$rows[0]['SiteCode'])) {
        throw ('SMS_ProviderLocation in {0} names no provider for the local site: the SMS Provider is not installed' -f $ProviderNamespace)
    }
    @{ Machine = $rows[0]['Machine']; NamespacePath = $rows[0]['NamespacePath']; SiteCode = [string]$rows[0]['SiteCode'] }
}

function Get-HierarchySites {
    $result = @{ schema = 1; site_code = $null; namespace = $ProviderNamespace; provider_location = $null; sites = $null; error = $null }
    try {
        $code = $SiteCode
        if ([string]::IsNullOrEmpty($code)) {
            $result.provider_location = Get-ProviderLocation
            $code = $result.provider_location.SiteCode
        }
        $result.site_code = $code
        $result.namespace = '{0}\site_{1}' -f $ProviderNamespace, $code
        $rows = Invoke-WmiQuery -Namespace $result.namespace -Query 'select * from SMS_Site' -TimeoutSeconds $WmiTimeoutSeconds
        $result.sites = @($rows)
    }
    catch [System.Management.ManagementException], [System.Runtime.InteropServices.COMException], [System.UnauthorizedAccessException] {
        $result.error = Format-WmiError $result.namespace $_.Exception
    }
    catch {
        $result.error = (Get-InnermostException $_.Exception).Message
    }
    $result
}

$Ansible.Result = Get-HierarchySites
$Ansible.Changed = $false
if ($standalone) { $Ansible.Result | ConvertTo-Json -Depth 5 -Compress }
