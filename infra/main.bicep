// seatsync: one Go binary run as an Azure Functions custom handler on Flex Consumption.
//
// Everything authenticates with one user-assigned managed identity: host storage, Table Storage,
// Service Bus, Key Vault and Application Insights. No account key, SAS or connection string with
// a key is created or handed to the app. The only secret, the app registration's client secret,
// goes straight into Key Vault and reaches the app as a Key Vault reference.

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('azd environment name; part of every resource name and of the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Azure region of every resource.')
param location string = resourceGroup().location

@minLength(1)
@description('Application (client) id of the multi-tenant app registration the partner admin consents to.')
param clientId string

@secure()
@description('Client secret of that app registration. Stored only as the Key Vault secret seatsync-client-secret.')
param clientSecret string

@description('Public base URL of the app, without a trailing slash. Empty means https://<function app default host name>. The consent redirect URI is <this>/api/consent/callback.')
param publicUrl string = ''

@description('NCRONTAB schedule (six fields) of the nightly sync.')
param syncSchedule string = '0 0 2 * * *'

@description('Identity platform base URL. Defaults to the login endpoint of the cloud being deployed to.')
param loginUrl string = environment().authentication.loginEndpoint

@description('Microsoft Graph base URL.')
param graphUrl string = 'https://graph.microsoft.com'

@description('Partner Center API base URL.')
param partnerCenterUrl string = 'https://api.partnercenter.microsoft.com'

@description('URL of Microsoft\'s "Product names and service plan identifiers for licensing" CSV.')
param skuCatalogUrl string = 'https://download.microsoft.com/download/e/3/e/e3e9faf2-f28b-490a-9ada-c6089a1fc5b0/Product%20names%20and%20service%20plan%20identifiers%20for%20licensing.csv'

@minValue(40)
@maxValue(1000)
@description('Upper bound of Flex Consumption instances.')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Memory of one Flex Consumption instance, in MB.')
param instanceMemoryMB int = 2048

@minValue(7)
@maxValue(90)
@description('Days a deleted Key Vault (and its secrets) stays recoverable. Purge protection is on, so the vault name stays taken for this long after deletion.')
param keyVaultSoftDeleteRetentionDays int = 90

// Names: short abbreviation + a token unique to subscription, resource group and environment.
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var identityName = 'id-${resourceToken}'
var storageAccountName = 'st${resourceToken}' // 3-24 lower-case letters and digits
var deploymentContainerName = 'app-package'
var logAnalyticsName = 'log-${resourceToken}'
var appInsightsName = 'appi-${resourceToken}'
var keyVaultName = 'kv-${resourceToken}' // 3-24 characters: 'kv-' + 13
var serviceBusNamespaceName = 'sb-${resourceToken}'
var planName = 'plan-${resourceToken}'
var functionAppName = 'func-${resourceToken}'

var queueName = 'tenant-sync'
var clientSecretName = 'seatsync-client-secret'

var tags = {
  'azd-env-name': environmentName
}

func trimTrailingSlash(url string) string => endsWith(url, '/') ? substring(url, 0, length(url) - 1) : url

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

// Host storage (AzureWebJobsStorage), the Flex deployment package and the app's Table Storage.
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }

  resource blobService 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }
}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

// Holds the client secret and, written by the app at run time, one refresh token per partner tenant.
resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }

  resource clientSecretSecret 'secrets' = {
    name: clientSecretName
    tags: tags
    properties: {
      value: clientSecret
      contentType: 'text/plain'
    }
  }
}

// Standard tier: the queue needs duplicate detection, which Basic lacks.
resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: serviceBusNamespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }

  // One message per customer tenant per run; MessageID runId/tenantId, so a re-sent fan-out
  // within the hour is dropped by the broker.
  resource tenantSyncQueue 'queues' = {
    name: queueName
    properties: {
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT1H'
      maxDeliveryCount: 10
      lockDuration: 'PT5M'
      defaultMessageTimeToLive: 'P1D'
      deadLetteringOnMessageExpiration: true
      requiresSession: false
      enablePartitioning: false
    }
  }
}

// serviceBusEndpoint reads https://<namespace>.<cloud suffix>:443/; the trigger wants the bare host.
var serviceBusHost = split(split(split(serviceBus.properties.serviceBusEndpoint, '//')[1], '/')[0], ':')[0]

module roles 'modules/roles.bicep' = {
  name: 'seatsync-roles'
  params: {
    principalId: identity.properties.principalId
    storageAccountName: storage.name
    keyVaultName: keyVault.name
    serviceBusNamespaceName: serviceBus.name
    appInsightsName: appInsights.name
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: union(tags, {
    'azd-service-name': 'seatsync'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
  dependsOn: [
    // The host reaches storage, Service Bus and Key Vault as the identity from its first start.
    roles
    storage::blobService::deploymentContainer
  ]
}

var publicBaseUrl = empty(publicUrl) ? 'https://${functionApp.properties.defaultHostName}' : trimTrailingSlash(publicUrl)

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // Functions host storage, by identity.
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId

    // Application Insights with Entra ID authentication (local auth is off).
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'

    // DefaultAzureCredential in the Go binary picks the user-assigned identity by this.
    AZURE_CLIENT_ID: identity.properties.clientId

    // seatsync settings (DESIGN.md, "Settings").
    SEATSYNC_CLIENT_ID: clientId
    SEATSYNC_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault::clientSecretSecret.properties.secretUri})'
    SEATSYNC_PUBLIC_URL: publicBaseUrl
    SEATSYNC_LOGIN_URL: trimTrailingSlash(loginUrl)
    SEATSYNC_GRAPH_URL: trimTrailingSlash(graphUrl)
    SEATSYNC_PARTNER_CENTER_URL: trimTrailingSlash(partnerCenterUrl)
    SEATSYNC_SKU_CATALOG_URL: skuCatalogUrl
    SEATSYNC_KEYVAULT_URL: keyVault.properties.vaultUri
    SEATSYNC_TABLES_URL: storage.properties.primaryEndpoints.table
    ServiceBusConnection__fullyQualifiedNamespace: serviceBusHost
    ServiceBusConnection__credential: 'managedidentity'
    ServiceBusConnection__clientId: identity.properties.clientId
    SEATSYNC_QUEUE: queueName
    SEATSYNC_SYNC_SCHEDULE: syncSchedule
  }
  dependsOn: [
    // tenantsync binds to the queue as soon as the host reads these settings.
    serviceBus::tenantSyncQueue
  ]
}

output AZURE_FUNCTION_APP_NAME string = functionApp.name
output AZURE_FUNCTION_APP_HOSTNAME string = functionApp.properties.defaultHostName
@description('Open this (with a function key as ?code=...) signed in as a Partner Center admin to grant consent.')
output SEATSYNC_CONSENT_URL string = '${publicBaseUrl}/api/consent'
@description('Register this as a Web redirect URI of the app registration.')
output SEATSYNC_REDIRECT_URI string = '${publicBaseUrl}/api/consent/callback'
output AZURE_KEY_VAULT_NAME string = keyVault.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.name
