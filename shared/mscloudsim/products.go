package mscloudsim

import (
	"crypto/sha256"
	"fmt"
	"strings"
)

// Product is a SKU the simulator sells. SkuID, PartNumber and Name are
// Microsoft's (checked against the product-names CSV); the service plan ids
// and the Partner Center product ids are the simulator's own inventions.
type Product struct {
	SkuID      string `json:"skuId"`
	PartNumber string `json:"skuPartNumber"`
	Name       string `json:"productName"`
	// AppliesTo is Graph's appliesTo: "User" for assignable SKUs.
	AppliesTo string `json:"appliesTo"`
	// MaxSeats is the most seats one tenant may buy (Business plans stop at
	// 300); 0 means no cap.
	MaxSeats int `json:"maxSeats,omitempty"`
	// OfferProduct is the (invented) Partner Center product id; offer ids are
	// "{OfferProduct}:0001:{availability}".
	OfferProduct string        `json:"offerProduct"`
	ServicePlans []ServicePlan `json:"servicePlans"`
}

// ServicePlan is one service plan of a Product.
type ServicePlan struct {
	ID           string `json:"servicePlanId"`
	Name         string `json:"servicePlanName"`
	FriendlyName string `json:"friendlyName"`
	AppliesTo    string `json:"appliesTo"`
}

// SKU GUIDs of the products (Graph's skuId), for tests and SetQuantity
// callers; the comments give the part numbers.
const (
	SKUBusinessPremium  = "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46" // SPB
	SKUM365E3           = "05e9a617-0261-4cee-bb44-138d3ef5d965" // SPE_E3
	SKUExchangePlan1    = "4b9405b0-7788-4568-add1-99614e613b69" // EXCHANGESTANDARD
	SKUBusinessBasic    = "3b555118-da6a-4418-894f-7df1e2096870" // O365_BUSINESS_ESSENTIALS
	SKUBusinessStandard = "f245ecc8-75af-4f8e-b61f-27d8114de5f3" // O365_BUSINESS_PREMIUM
	SKUO365E3           = "6fd2c87f-b296-42f0-b197-1e91e994b900" // ENTERPRISEPACK
	SKUTeamsExploratory = "710779e8-3d4a-4c88-adb9-386c958d1fdf" // TEAMS_EXPLORATORY
	SKUPowerBIPro       = "f8a1db68-be16-40ed-86d5-cb42ce701560" // POWER_BI_PRO
)

// plan builds a service plan whose id is derived from its name, so that the
// same plan has the same id in every SKU (as in Microsoft's data) and the ids
// do not depend on the seed.
func plan(name, friendly string) ServicePlan {
	return ServicePlan{ID: nameGUID("service-plan", name), Name: name, FriendlyName: friendly, AppliesTo: "User"}
}

var (
	planExchange1   = plan("EXCHANGE_S_STANDARD", "Exchange Online (Plan 1)")
	planExchange2   = plan("EXCHANGE_S_ENTERPRISE", "Exchange Online (Plan 2)")
	planTeams       = plan("TEAMS1", "Microsoft Teams")
	planSharePoint1 = plan("SHAREPOINTSTANDARD", "SharePoint (Plan 1)")
	planSharePoint2 = plan("SHAREPOINTENTERPRISE", "SharePoint (Plan 2)")
	planAppsBiz     = plan("O365_BUSINESS", "Microsoft 365 Apps for business, desktop and web")
	planAppsEnt     = plan("OFFICESUBSCRIPTION", "Microsoft 365 Apps for enterprise")
	planIntune      = plan("INTUNE_A", "Microsoft Intune Plan 1")
	planEntraP1     = plan("AAD_PREMIUM", "Microsoft Entra ID P1")
	planPowerBI     = plan("BI_AZURE_P2", "Power BI Pro")
	planFoundation  = plan("EXCHANGE_S_FOUNDATION", "Exchange Foundation")
)

// products is the simulator's price list, in the order SKUs are listed.
var products = []Product{
	{SkuID: SKUBusinessPremium, PartNumber: "SPB", Name: "Microsoft 365 Business Premium", AppliesTo: "User", MaxSeats: 300,
		OfferProduct: "CFQ7TTC0SIM1", ServicePlans: []ServicePlan{planExchange1, planTeams, planSharePoint1, planAppsBiz, planIntune, planEntraP1}},
	{SkuID: SKUM365E3, PartNumber: "SPE_E3", Name: "Microsoft 365 E3", AppliesTo: "User",
		OfferProduct: "CFQ7TTC0SIM2", ServicePlans: []ServicePlan{planExchange2, planTeams, planSharePoint2, planAppsEnt, planIntune, planEntraP1}},
	{SkuID: SKUExchangePlan1, PartNumber: "EXCHANGESTANDARD", Name: "Exchange Online (Plan 1)", AppliesTo: "User",
		OfferProduct: "CFQ7TTC0SIM3", ServicePlans: []ServicePlan{planExchange1, planFoundation}},
	{SkuID: SKUBusinessBasic, PartNumber: "O365_BUSINESS_ESSENTIALS", Name: "Microsoft 365 Business Basic", AppliesTo: "User", MaxSeats: 300,
		OfferProduct: "CFQ7TTC0SIM4", ServicePlans: []ServicePlan{planExchange1, planTeams, planSharePoint1}},
	{SkuID: SKUBusinessStandard, PartNumber: "O365_BUSINESS_PREMIUM", Name: "Microsoft 365 Business Standard", AppliesTo: "User", MaxSeats: 300,
		OfferProduct: "CFQ7TTC0SIM5", ServicePlans: []ServicePlan{planExchange1, planTeams, planSharePoint1, planAppsBiz}},
	{SkuID: SKUO365E3, PartNumber: "ENTERPRISEPACK", Name: "Office 365 E3", AppliesTo: "User",
		OfferProduct: "CFQ7TTC0SIM6", ServicePlans: []ServicePlan{planExchange2, planTeams, planSharePoint2, planAppsEnt}},
	{SkuID: SKUTeamsExploratory, PartNumber: "TEAMS_EXPLORATORY", Name: "Microsoft Teams Exploratory", AppliesTo: "User",
		OfferProduct: "CFQ7TTC0SIM7", ServicePlans: []ServicePlan{planTeams, planFoundation}},
	{SkuID: SKUPowerBIPro, PartNumber: "POWER_BI_PRO", Name: "Power BI Pro", AppliesTo: "User",
		OfferProduct: "CFQ7TTC0SIM8", ServicePlans: []ServicePlan{planPowerBI, planFoundation}},
}

// Products returns the SKUs the simulator sells (and lists in its catalog).
func Products() []Product {
	out := make([]Product, len(products))
	for i, p := range products {
		out[i] = p
		out[i].ServicePlans = append([]ServicePlan(nil), p.ServicePlans...)
	}
	return out
}

// product returns the product with SKU GUID skuID.
func product(skuID string) (Product, bool) {
	for _, p := range products {
		if strings.EqualFold(p.SkuID, skuID) {
			return p, true
		}
	}
	return Product{}, false
}

// productIndex orders SKUs as the price list does.
func productIndex(skuID string) int {
	for i, p := range products {
		if strings.EqualFold(p.SkuID, skuID) {
			return i
		}
	}
	return len(products)
}

// nameGUID derives a GUID (version 4 layout) from a name: stable ids for
// things that must not depend on the seed.
func nameGUID(kind, name string) string {
	sum := sha256.Sum256([]byte("mscloudsim/" + kind + "/" + name))
	return formatGUID(sum[:16])
}

// formatGUID formats 16 bytes as a lowercase 8-4-4-4-12 GUID with version 4
// and variant bits set.
func formatGUID(b []byte) string {
	var g [16]byte
	copy(g[:], b)
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
}
