<?xml version="1.0" encoding="UTF-8"?>
<!--
  Legal-entity canonical record (法人单位基础信息) → the tax bureau's taxpayer registration
  (纳税人登记信息).

  What changes on the way:
  - the credit code becomes the taxpayer identification number;
  - entity type and the foreign-investment flag become the tax registration category;
  - the competent tax authority is the county-level one of the registered address: its code is
    1, the division code and 0000 (e.g. 14501030000);
  - accounting starts on the date of establishment;
  - shareholders become investors, with ratios back in percent;
  - the source registration becomes the business licence block.
  Taxpayer type and accounting standard are not in the canonical record: they come from the
  adapter's options (parameters below) until the enterprise reports otherwise.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:le="urn:cn:gov:exchange:canonical:legal-entity:1"
                xmlns="urn:cn:gov:chinatax:taxpayer-registration:1"
                exclude-result-prefixes="le">

  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>

  <!-- small-scale | general -->
  <xsl:param name="taxpayer_type" select="'small-scale'"/>
  <!-- small-enterprise | enterprise -->
  <xsl:param name="accounting_standard" select="'small-enterprise'"/>

  <xsl:template match="/le:LegalEntity">
    <xsl:variable name="division" select="normalize-space(le:Address/le:DivisionCode)"/>
    <TaxpayerRegistration>
      <TaxpayerIdentificationNumber><xsl:value-of select="normalize-space(le:CreditCode)"/></TaxpayerIdentificationNumber>
      <TaxpayerName><xsl:value-of select="normalize-space(le:Name)"/></TaxpayerName>
      <RegistrationCategory><xsl:call-template name="registration-category"/></RegistrationCategory>
      <TaxpayerType><xsl:value-of select="$taxpayer_type"/></TaxpayerType>
      <LegalPerson>
        <Name><xsl:value-of select="normalize-space(le:LegalRepresentative/le:Name)"/></Name>
        <IdentityDocumentType>resident-identity-card</IdentityDocumentType>
        <IdentityDocumentNumber>
          <xsl:value-of select="normalize-space(le:LegalRepresentative/le:IdentityNumber)"/>
        </IdentityDocumentNumber>
        <!-- The tax system keeps a mobile number only; a landline is left out. -->
        <xsl:if test="starts-with(normalize-space(le:LegalRepresentative/le:Phone), '1')">
          <Mobile><xsl:value-of select="normalize-space(le:LegalRepresentative/le:Phone)"/></Mobile>
        </xsl:if>
      </LegalPerson>
      <RegisteredAddress>
        <DivisionCode><xsl:value-of select="$division"/></DivisionCode>
        <Address><xsl:value-of select="normalize-space(le:Address/le:Text)"/></Address>
        <xsl:if test="le:Address/le:PostalCode">
          <PostalCode><xsl:value-of select="normalize-space(le:Address/le:PostalCode)"/></PostalCode>
        </xsl:if>
      </RegisteredAddress>
      <TaxAuthority>
        <DivisionCode><xsl:value-of select="$division"/></DivisionCode>
        <Code><xsl:value-of select="concat('1', $division, '0000')"/></Code>
      </TaxAuthority>
      <EstablishmentDate><xsl:value-of select="normalize-space(le:EstablishedDate)"/></EstablishmentDate>
      <AccountingStartDate><xsl:value-of select="normalize-space(le:EstablishedDate)"/></AccountingStartDate>
      <AccountingStandard><xsl:value-of select="$accounting_standard"/></AccountingStandard>
      <IndustryCode><xsl:value-of select="normalize-space(le:IndustryCode)"/></IndustryCode>
      <xsl:if test="le:BusinessScope">
        <BusinessScope><xsl:value-of select="normalize-space(le:BusinessScope)"/></BusinessScope>
      </xsl:if>
      <RegisteredCapital><xsl:value-of select="normalize-space(le:RegisteredCapital/le:Amount)"/></RegisteredCapital>
      <CapitalCurrency><xsl:value-of select="normalize-space(le:RegisteredCapital/le:Currency)"/></CapitalCurrency>
      <EmployeeCount><xsl:value-of select="normalize-space(le:EmployeeCount)"/></EmployeeCount>
      <xsl:if test="le:Shareholders/le:Shareholder">
        <Investors>
          <xsl:apply-templates select="le:Shareholders/le:Shareholder"/>
        </Investors>
      </xsl:if>
      <BusinessLicence>
        <RegistrationNumber><xsl:value-of select="normalize-space(le:Source/le:RecordNumber)"/></RegistrationNumber>
        <IssuingAuthority><xsl:value-of select="normalize-space(le:Source/le:AuthorityName)"/></IssuingAuthority>
        <ValidFrom><xsl:value-of select="normalize-space(le:OperatingPeriod/le:From)"/></ValidFrom>
        <xsl:if test="le:OperatingPeriod/le:Until">
          <ValidUntil><xsl:value-of select="normalize-space(le:OperatingPeriod/le:Until)"/></ValidUntil>
        </xsl:if>
      </BusinessLicence>
    </TaxpayerRegistration>
  </xsl:template>

  <xsl:template name="registration-category">
    <xsl:variable name="type" select="normalize-space(le:EntityType)"/>
    <xsl:choose>
      <xsl:when test="normalize-space(le:ForeignInvested) = 'true' or normalize-space(le:ForeignInvested) = '1'">foreign-invested</xsl:when>
      <xsl:when test="$type = 'limited-liability-company'">domestic-limited-liability</xsl:when>
      <xsl:when test="$type = 'joint-stock-company'">domestic-joint-stock</xsl:when>
      <xsl:when test="$type = 'partnership' or $type = 'sole-proprietorship' or $type = 'branch'">
        <xsl:value-of select="$type"/>
      </xsl:when>
      <xsl:otherwise>
        <xsl:message terminate="yes">legal-entity type '<xsl:value-of select="$type"/>' has no tax registration category; add it to canonical-to-tax.xsl</xsl:message>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="le:Shareholder">
    <Investor>
      <Name><xsl:value-of select="normalize-space(le:Name)"/></Name>
      <DocumentType>
        <xsl:variable name="scheme" select="normalize-space(le:IdentifierScheme)"/>
        <xsl:choose>
          <xsl:when test="$scheme = 'resident-id'">resident-identity-card</xsl:when>
          <xsl:when test="$scheme = 'uscc'">unified-social-credit-code</xsl:when>
          <xsl:when test="$scheme = 'passport'">passport</xsl:when>
          <xsl:otherwise>overseas-registration-certificate</xsl:otherwise>
        </xsl:choose>
      </DocumentType>
      <DocumentNumber><xsl:value-of select="normalize-space(le:Identifier)"/></DocumentNumber>
      <InvestmentAmount><xsl:value-of select="normalize-space(le:Contribution/le:Amount)"/></InvestmentAmount>
      <InvestmentRatio><xsl:value-of select="format-number(le:Ratio * 100, '0.####')"/></InvestmentRatio>
    </Investor>
  </xsl:template>

</xsl:stylesheet>
