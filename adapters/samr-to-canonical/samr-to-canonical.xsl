<?xml version="1.0" encoding="UTF-8"?>
<!--
  Market regulation's enterprise registration (企业设立登记) → the legal-entity base registry's
  canonical record (法人单位基础信息).

  What changes on the way:
  - enterprise types collapse into legal-entity types; whether foreign capital is involved
    becomes the separate flag ForeignInvested (by type, or by any shareholder from abroad);
  - shareholder types collapse into natural and legal persons;
  - share ratios go from percent (60) to a fraction of one (0.6);
  - the registration authority, number and approval date become the record's Source;
  - key personnel are not part of the base record and are dropped.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:samr="urn:cn:gov:samr:enterprise-registration:1"
                xmlns:ct="urn:cn:gov:exchange:common-types:1"
                xmlns="urn:cn:gov:exchange:canonical:legal-entity:1"
                exclude-result-prefixes="samr ct">

  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>

  <!-- Agency code recorded as the source of the record (canonical AgencyCode). -->
  <xsl:param name="source_agency" select="'samr'"/>
  <!-- Status of a newly registered enterprise. -->
  <xsl:param name="status" select="'active'"/>

  <xsl:template match="/samr:EnterpriseRegistration">
    <LegalEntity>
      <CreditCode><xsl:value-of select="normalize-space(samr:CreditCode)"/></CreditCode>
      <Name><xsl:value-of select="normalize-space(samr:EnterpriseName)"/></Name>
      <EntityType><xsl:apply-templates select="samr:EnterpriseType"/></EntityType>
      <ForeignInvested>
        <xsl:value-of select="samr:EnterpriseType = 'foreign-invested-limited-liability'
                              or samr:Shareholders/samr:Shareholder[samr:Type = 'overseas-legal-person'
                                                                    or samr:Country != 'CHN']"/>
      </ForeignInvested>
      <LegalRepresentative>
        <Name><xsl:value-of select="normalize-space(samr:LegalRepresentative/samr:Name)"/></Name>
        <IdentityNumber>
          <xsl:value-of select="normalize-space(samr:LegalRepresentative/samr:IdentityNumber)"/>
        </IdentityNumber>
        <Phone><xsl:value-of select="normalize-space(samr:LegalRepresentative/samr:Phone)"/></Phone>
      </LegalRepresentative>
      <RegisteredCapital>
        <xsl:apply-templates select="samr:RegisteredCapital" mode="money"/>
      </RegisteredCapital>
      <EstablishedDate><xsl:value-of select="normalize-space(samr:EstablishmentDate)"/></EstablishedDate>
      <OperatingPeriod>
        <From><xsl:value-of select="normalize-space(samr:BusinessTerm/ct:StartDate)"/></From>
        <xsl:if test="samr:BusinessTerm/ct:EndDate">
          <Until><xsl:value-of select="normalize-space(samr:BusinessTerm/ct:EndDate)"/></Until>
        </xsl:if>
      </OperatingPeriod>
      <Address>
        <DivisionCode><xsl:value-of select="normalize-space(samr:RegisteredAddress/samr:DivisionCode)"/></DivisionCode>
        <Text><xsl:value-of select="normalize-space(samr:RegisteredAddress/samr:DetailedAddress)"/></Text>
        <xsl:if test="samr:RegisteredAddress/samr:PostalCode">
          <PostalCode><xsl:value-of select="normalize-space(samr:RegisteredAddress/samr:PostalCode)"/></PostalCode>
        </xsl:if>
      </Address>
      <IndustryCode><xsl:value-of select="normalize-space(samr:IndustryCode)"/></IndustryCode>
      <BusinessScope><xsl:value-of select="normalize-space(samr:BusinessScope)"/></BusinessScope>
      <Status><xsl:value-of select="$status"/></Status>
      <Source>
        <Agency><xsl:value-of select="$source_agency"/></Agency>
        <AuthorityName><xsl:value-of select="normalize-space(samr:RegistrationAuthority/samr:Name)"/></AuthorityName>
        <AuthorityDivisionCode>
          <xsl:value-of select="normalize-space(samr:RegistrationAuthority/samr:DivisionCode)"/>
        </AuthorityDivisionCode>
        <RecordNumber><xsl:value-of select="normalize-space(samr:RegistrationNumber)"/></RecordNumber>
        <ApprovalDate><xsl:value-of select="normalize-space(samr:ApprovalDate)"/></ApprovalDate>
      </Source>
      <EmployeeCount><xsl:value-of select="normalize-space(samr:EmployeeCount)"/></EmployeeCount>
      <Shareholders>
        <xsl:apply-templates select="samr:Shareholders/samr:Shareholder"/>
      </Shareholders>
      <Contact>
        <Name><xsl:value-of select="normalize-space(samr:Contact/ct:Name)"/></Name>
        <Phone><xsl:value-of select="normalize-space(samr:Contact/ct:Phone)"/></Phone>
        <xsl:if test="samr:Contact/ct:Email">
          <Email><xsl:value-of select="normalize-space(samr:Contact/ct:Email)"/></Email>
        </xsl:if>
      </Contact>
    </LegalEntity>
  </xsl:template>

  <xsl:template match="samr:EnterpriseType">
    <xsl:variable name="type" select="normalize-space(.)"/>
    <xsl:choose>
      <xsl:when test="$type = 'limited-liability' or $type = 'one-person-limited-liability'
                      or $type = 'foreign-invested-limited-liability'">limited-liability-company</xsl:when>
      <xsl:when test="$type = 'joint-stock'">joint-stock-company</xsl:when>
      <xsl:when test="$type = 'partnership'">partnership</xsl:when>
      <xsl:when test="$type = 'sole-proprietorship'">sole-proprietorship</xsl:when>
      <xsl:when test="$type = 'branch'">branch</xsl:when>
      <xsl:otherwise>
        <xsl:message terminate="yes">enterprise type '<xsl:value-of select="$type"/>' has no legal-entity type; add it to samr-to-canonical.xsl</xsl:message>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="samr:Shareholder">
    <Shareholder>
      <Name><xsl:value-of select="normalize-space(samr:Name)"/></Name>
      <Kind>
        <xsl:choose>
          <xsl:when test="samr:Type = 'natural-person'">natural-person</xsl:when>
          <xsl:otherwise>legal-person</xsl:otherwise>
        </xsl:choose>
      </Kind>
      <IdentifierScheme><xsl:value-of select="normalize-space(samr:IdentificationType)"/></IdentifierScheme>
      <Identifier><xsl:value-of select="normalize-space(samr:IdentificationNumber)"/></Identifier>
      <Contribution>
        <xsl:apply-templates select="samr:ContributionAmount" mode="money"/>
      </Contribution>
      <!-- Percent to fraction; six decimals keep the four of the percentage exact. -->
      <Ratio><xsl:value-of select="format-number(samr:ShareRatio div 100, '0.######')"/></Ratio>
    </Shareholder>
  </xsl:template>

  <xsl:template match="*" mode="money">
    <Amount><xsl:value-of select="normalize-space(ct:Amount)"/></Amount>
    <Currency><xsl:value-of select="normalize-space(ct:Currency)"/></Currency>
  </xsl:template>

</xsl:stylesheet>
